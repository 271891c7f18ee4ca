// Node's Buffer has fast, undocumented slice-to-string methods that @types/node does not declare.
// latin1Slice is what undici and Node's own http parser use to turn header bytes into strings.
declare global {
  interface Buffer<TArrayBuffer extends ArrayBufferLike = ArrayBufferLike> {
    latin1Slice(start?: number, end?: number): string;
    latin1Write(s: string, offset?: number, length?: number): number;
  }
}
export {};
