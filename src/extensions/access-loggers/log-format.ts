// What the file, stdout and stderr access loggers share at config time: log_format
// (envoy.config.core.v3.SubstitutionFormatString), compiled to the text or JSON format that
// http/access-log.ts renders.
import { readDataSource } from '../../common/data-source.ts';
import type { CompileContext, SupportedField } from '../types.ts';
import { parseFormat, parseJsonFormat } from '../../formatter/substitution-formatter.ts';

type Obj = Record<string, any>;

export const LOG_FORMAT_FIELDS: Readonly<Record<string, readonly SupportedField[]>> = {
  'envoy.config.core.v3.SubstitutionFormatString': ['text_format_source', 'json_format'],
  'envoy.config.core.v3.DataSource': ['inline_string', 'inline_bytes', 'filename'],
};

export function compileLogFormat(
  lf: Obj | undefined, ctx: CompileContext,
): { format: string | null; json: Record<string, unknown> | null } {
  if (lf === undefined) return { format: null, json: null };
  const path = `${ctx.path}.log_format`;
  let format: string | null = null;
  if (lf.text_format_source !== undefined) {
    format = readDataSource(lf.text_format_source, `${path}.text_format_source`, ctx.fail).toString('utf8');
  } else if (typeof lf.text_format === 'string') {
    format = lf.text_format;
  }
  // Checked here, in main, so an unknown command operator or a bad `%` fails the config with its
  // path; the workers compile the same strings (http/access-log.ts).
  if (format !== null) parseFormat(format, `${path}.text_format_source`, ctx.fail);
  if (lf.json_format !== undefined) parseJsonFormat(lf.json_format, `${path}.json_format`, ctx.fail);
  return { format, json: lf.json_format ?? null };
}
