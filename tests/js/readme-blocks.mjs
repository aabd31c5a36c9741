// The fenced code blocks of a Markdown file, with their info-string words: ```js runnable → tags
// ['runnable']. Used by the README tests (types, runnable examples). Not a test file itself.

/** @returns {{ lang: string, tags: string[], code: string, line: number }[]} the ```js blocks */
export function readmeBlocks(markdown, lang = 'js') {
  const blocks = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S+)((?: \S+)*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    if (open[1] === lang) blocks.push({ lang: open[1], tags: open[2].trim().split(/\s+/).filter(Boolean), code: body.join('\n') + '\n', line: start + 1 });
  }
  return blocks;
}
