// envoy.path.match.uri_template.uri_template_matcher: a RouteMatch's path_match_policy that matches
// the path against a template (`/videos/{id}/**.m3u8`). compile() parses the template with Envoy's
// rules (router/uri-template.ts) and gives its RE2 translation, which the route table matches on
// the path without query and fragment.
import { ExtensionCategory, type PathMatchModule } from '../../../types.ts';
import { compileRegex } from '../../../../common/regex.ts';
import { uriTemplateRegex } from '../../../../router/uri-template.ts';

export const NAME = 'envoy.path.match.uri_template.uri_template_matcher';
const TYPE = 'envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig';

export interface UriTemplateSnap {
  template: string;
  /** The RE2 pattern the template stands for. */
  regex: string;
}

const uriTemplateMatcher: PathMatchModule<UriTemplateSnap> = {
  name: NAME,
  category: ExtensionCategory.PathMatch,
  types: [TYPE],
  fields: { [TYPE]: ['path_template'] },
  protos: ['envoy/extensions/path/match/uri_template/v3/uri_template_match.proto'],
  compile(tc, ctx) {
    const template = String(tc.path_template ?? '');
    let regex = '';
    try {
      regex = uriTemplateRegex(template);
      compileRegex(regex);
    } catch (e) {
      ctx.fail(`${ctx.path}.path_template`, `path_template ${JSON.stringify(template)} is invalid: ${(e as Error).message}`);
    }
    return { template, regex };
  },
};
export default uriTemplateMatcher;
