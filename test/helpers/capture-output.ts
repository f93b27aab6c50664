/**
 * Tees everything written to process.stdout and process.stderr (Powertools log lines and EMF)
 * into `lines`, one entry per non-blank line, while still writing it through.
 * @returns a function that restores both streams
 */
export function captureOutput(lines: string[]): () => void {
  const tee = (stream: NodeJS.WriteStream): (() => void) => {
    const original = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      lines.push(
        ...String(chunk)
          .split('\n')
          .filter((l) => l.trim() !== ''),
      );
      return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    return () => {
      stream.write = original as typeof stream.write;
    };
  };
  const restoreOut = tee(process.stdout);
  const restoreErr = tee(process.stderr);
  return () => {
    restoreOut();
    restoreErr();
  };
}
