// The response every upstream serves: 100 bytes at one path, the same whichever upstream runs.
export const PAYLOAD_PATH = '/100b.txt';
export const PAYLOAD = 'x'.repeat(99) + '\n';

// The tcp-stream scenario's one long download: 1 GiB at its own path (a sparse file, so it costs no disk).
export const STREAM_PATH = '/1g.bin';
export const STREAM_BYTES = 1024 ** 3;
