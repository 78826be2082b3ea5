/**
 * A small XML reader for osinfo-db's well-formed files: elements, attributes, text, the five
 * named entities and numeric character references; comments, processing instructions, DOCTYPE
 * and CDATA handled. No namespaces (a prefixed name such as xml:lang stays as written), no DTD
 * entities. Malformed input is an XmlError, never a wrong tree.
 */

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (children's text not included), entities decoded, untrimmed. */
  text: string;
}

export class XmlError extends Error {
  override readonly name = 'XmlError';
}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (m, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
    }
    const named = NAMED[body];
    if (named === undefined) throw new XmlError(`unknown entity ${m}`);
    return named;
  });
}

const NAME_END = /[\s/>]/;
const ATTR = /([^\s=]+)\s*=\s*("([^"]*)"|'([^']*)')/g;

/** Parses a document and returns its root element. */
export function parseXml(src: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = 0;
  const n = src.length;
  const skipPast = (marker: string, what: string) => {
    const end = src.indexOf(marker, i);
    if (end < 0) throw new XmlError(`unterminated ${what}`);
    const start = i;
    i = end + marker.length;
    return src.slice(start, end);
  };
  while (i < n) {
    const lt = src.indexOf('<', i);
    const textEnd = lt < 0 ? n : lt;
    if (textEnd > i) {
      const top = stack[stack.length - 1];
      const text = src.slice(i, textEnd);
      if (top) top.text += decodeEntities(text);
      else if (text.trim() !== '') throw new XmlError('text outside the root element');
    }
    if (lt < 0) break;
    i = lt;
    if (src.startsWith('<!--', i)) {
      i += 4;
      skipPast('-->', 'comment');
    } else if (src.startsWith('<?', i)) {
      i += 2;
      skipPast('?>', 'processing instruction');
    } else if (src.startsWith('<![CDATA[', i)) {
      i += 9;
      const data = skipPast(']]>', 'CDATA section');
      const top = stack[stack.length - 1];
      if (!top) throw new XmlError('CDATA outside the root element');
      top.text += data;
    } else if (src.startsWith('<!', i)) {
      i += 2;
      skipPast('>', 'declaration');
    } else if (src.startsWith('</', i)) {
      i += 2;
      const name = skipPast('>', 'end tag').trim();
      const open = stack.pop();
      if (!open || open.name !== name) throw new XmlError(`</${name}> does not close <${open?.name ?? 'nothing'}>`);
    } else {
      i += 1;
      // The tag ends at the first ">" outside quotes; attribute values rarely hold ">", so try
      // the plain search first and scan quote by quote only when the quotes do not pair up.
      let j = src.indexOf('>', i);
      if (j < 0) throw new XmlError('unterminated start tag');
      if (quotesUnbalanced(src, i, j)) j = tagEnd(src, i);
      let body = src.slice(i, j);
      i = j + 1;
      const selfClosing = body.endsWith('/');
      if (selfClosing) body = body.slice(0, -1);
      const m = NAME_END.exec(body);
      const name = m ? body.slice(0, m.index) : body;
      if (!name) throw new XmlError('a start tag without a name');
      const attrs: Record<string, string> = {};
      if (body.length > name.length)
        for (const a of body.slice(name.length).matchAll(ATTR)) attrs[a[1]!] = decodeEntities(a[3] ?? a[4] ?? '');
      const el: XmlElement = { name, attrs, children: [], text: '' };
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(el);
      else if (root) throw new XmlError('more than one root element');
      else root = el;
      if (!selfClosing) stack.push(el);
    }
  }
  if (stack.length > 0) throw new XmlError(`<${stack[stack.length - 1]!.name}> is never closed`);
  if (!root) throw new XmlError('no root element');
  return root;
}

function quotesUnbalanced(src: string, from: number, to: number): boolean {
  let q = src.indexOf('"', from);
  let dq = 0;
  while (q >= 0 && q < to) {
    dq++;
    q = src.indexOf('"', q + 1);
  }
  let a = src.indexOf("'", from);
  let sq = 0;
  while (a >= 0 && a < to) {
    sq++;
    a = src.indexOf("'", a + 1);
  }
  return dq % 2 !== 0 || sq % 2 !== 0;
}

function tagEnd(src: string, from: number): number {
  let quote = '';
  for (let j = from; j < src.length; j++) {
    const c = src[j]!;
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '>') return j;
  }
  throw new XmlError('unterminated start tag');
}

/** Direct children named `name`. */
export function kids(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** The trimmed text of the first direct child named `name` that has no xml:lang (the untranslated one). */
export function childText(el: XmlElement, name: string): string | undefined {
  const c = el.children.find((k) => k.name === name && k.attrs['xml:lang'] === undefined);
  return c?.text.trim();
}
