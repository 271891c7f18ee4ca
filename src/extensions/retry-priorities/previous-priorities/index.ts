// envoy.retry_priorities.previous_priorities (PreviousPrioritiesConfig): a route's retries avoid
// the priorities they already tried (previous-priorities.ts). The router makes one per request of a
// route whose retry_policy names it, and the load balancers that choose with a random number
// (round robin, least request, random) ask it for each pick's priority load; ring hash and Maglev
// do not, as in Envoy (the hash alone chooses the priority).
import { ExtensionCategory, type CompileContext, type RetryPriorityModule } from '../../types.ts';
import { PreviousPrioritiesRetryPriority } from './previous-priorities.ts';

export const NAME = 'envoy.retry_priorities.previous_priorities';
const TYPE = 'envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig';

export interface PreviousPrioritiesSnap {
  updateFrequency: number;
}

const previousPriorities: RetryPriorityModule<PreviousPrioritiesSnap> = {
  name: NAME,
  category: ExtensionCategory.RetryPriority,
  types: [TYPE],
  fields: { [TYPE]: ['update_frequency'] },
  protos: ['envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto'],
  compile(c: Record<string, any>, ctx: CompileContext): PreviousPrioritiesSnap {
    // (The proto's rule is gt: 0, and an unset int32 is 0: Envoy refuses a config without it.)
    const updateFrequency = Number(c.update_frequency ?? 0);
    if (!(updateFrequency > 0)) {
      ctx.fail(`${ctx.path}.update_frequency`, `value must be greater than 0, got ${updateFrequency}`);
    }
    return { updateFrequency };
  },
  createRetryPriority(compiled: PreviousPrioritiesSnap): PreviousPrioritiesRetryPriority {
    return new PreviousPrioritiesRetryPriority(compiled.updateFrequency);
  },
};
export default previousPriorities;
