/** A benchmark's whole-number setting: unset gives the default; anything else must be a whole number >= min. */
export function wholeNumber(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name}: expected a whole number >= ${min}, got "${text}"`);
  return value;
}

/** A comma list of whole numbers (e.g. node counts). */
export function wholeNumbers(name: string, text: string | undefined, fallback: readonly number[], min: number): number[] {
  if (text === undefined || text === '') return [...fallback];
  return text.split(',').map((part) => wholeNumber(name, part.trim(), NaN, min));
}
