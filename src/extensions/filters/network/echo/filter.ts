// envoy.filters.network.echo: every byte read is written back, as read (Envoy's EchoFilter). The
// connection's write copies what it must keep (network/filter.ts), so the read chunk is passed as is.
import type { Buffer } from 'node:buffer';
import { FilterStatus, type ReadFilter, type ReadFilterCallbacks } from '../../../../network/filter.ts';

export class EchoFilter implements ReadFilter {
  #cb: ReadFilterCallbacks | null = null;

  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void {
    this.#cb = cb;
  }

  onNewConnection(): FilterStatus {
    return FilterStatus.Continue;
  }

  onData(data: Buffer, endStream: boolean): FilterStatus {
    this.#cb!.connection.write(data, endStream);
    return FilterStatus.StopIteration;
  }
}
