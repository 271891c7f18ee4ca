// envoy.retry_host_predicates.previous_hosts (PreviousHostsPredicate): a retry avoids the hosts the
// request already tried, re-picking up to the retry policy's host_selection_retry_max_attempts
// times. The router acts on it (RetryPolicySnap.previousHosts); this module is what the config
// names.
import { ExtensionCategory, type RetryHostPredicateModule } from '../../types.ts';

export const NAME = 'envoy.retry_host_predicates.previous_hosts';
const TYPE = 'envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate';

const previousHosts: RetryHostPredicateModule<null> = {
  name: NAME,
  category: ExtensionCategory.RetryHostPredicate,
  types: [TYPE],
  fields: { [TYPE]: [] },
  protos: ['envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto'],
  compile: () => null,
};
export default previousHosts;
