// envoy.filters.network.direct_response: on a new connection, write the configured bytes (with
// end of stream) and close once they are flushed (Envoy's DirectResponseFilter). Whatever the
// peer sends is dropped.
import type { Buffer } from 'node:buffer';
import {
  ConnectionCloseType, FilterStatus, type ReadFilter, type ReadFilterCallbacks,
} from '../../../../network/filter.ts';

export class DirectResponseFilter implements ReadFilter {
  readonly #response: Buffer;
  #cb: ReadFilterCallbacks | null = null;

  /** `response` is shared by every connection of the filter chain; it is never modified. */
  constructor(response: Buffer) {
    this.#response = response;
  }

  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void {
    this.#cb = cb;
  }

  onNewConnection(): FilterStatus {
    const c = this.#cb!.connection;
    if (this.#response.length > 0) c.write(this.#response, true);
    c.close(ConnectionCloseType.FlushWrite);
    return FilterStatus.StopIteration;
  }

  onData(_data: Buffer, _endStream: boolean): FilterStatus {
    return FilterStatus.StopIteration;
  }
}
