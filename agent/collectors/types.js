/** Error for a file that is not in the layout its parser expects, naming the file. */
export class SourceFormatError extends Error {
  constructor(source, problem) {
    super(`${source}: ${problem}`);
    this.name = 'SourceFormatError';
  }
}
const UNSIGNED = /^\d+$/;
/** `text` when it is an unsigned decimal counter, else a SourceFormatError naming source and field. */
export function counter(text, source, field) {
  if (text === undefined || !UNSIGNED.test(text)) {
    throw new SourceFormatError(source, `${field} is "${text ?? ''}", expected an unsigned integer`);
  }
  // Drop leading zeros so the wire value is canonical; "0" stays "0".
  return text.replace(/^0+(?=\d)/, '');
}
/** Device names in metric keys: anything but `[A-Za-z0-9_-]` becomes `_` (upstream rule). */
export function deviceKeyName(device) {
  return device.replace(/[^A-Za-z0-9_-]/g, '_');
}
//# sourceMappingURL=types.js.map
