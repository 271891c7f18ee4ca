// The response every upstream serves: 100 bytes at one path, the same whichever upstream runs.
export const PAYLOAD_PATH = '/100b.txt';
export const PAYLOAD = 'x'.repeat(99) + '\n';
