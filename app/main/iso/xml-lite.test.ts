import { describe, expect, it } from 'vitest';
import { childText, decodeEntities, kids, parseXml, XmlError } from './xml-lite.js';

describe('parseXml', () => {
  it('reads elements, attributes, text, entities, comments, CDATA and self-closing tags', () => {
    const root = parseXml(`<?xml version="1.0"?>
<!DOCTYPE x>
<libosinfo version="0.0.1">
  <!-- Licensed under the GNU General Public License version 2 or later. -->
  <os id="http://example.org/os/1">
    <name>Example &amp; Co &#xB370;</name>
    <name xml:lang="de">Beispiel</name>
    <upgrades id='http://example.org/os/0'/>
    <media arch="x86_64"><iso><volume-id>EX-\\d+ a&gt;b</volume-id></iso></media>
    <note><![CDATA[<raw> & text]]></note>
    <attr value="a > b"/>
  </os>
</libosinfo>`);
    expect(root.name).toBe('libosinfo');
    const os = kids(root, 'os')[0]!;
    expect(os.attrs.id).toBe('http://example.org/os/1');
    expect(childText(os, 'name')).toBe('Example & Co \uB370');
    expect(kids(os, 'upgrades')[0]!.attrs.id).toBe('http://example.org/os/0');
    expect(childText(kids(kids(os, 'media')[0]!, 'iso')[0]!, 'volume-id')).toBe('EX-\\d+ a>b');
    expect(childText(os, 'note')).toBe('<raw> & text');
    expect(kids(os, 'attr')[0]!.attrs.value).toBe('a > b');
  });

  it('refuses malformed documents instead of guessing', () => {
    for (const bad of ['<a><b></a>', '<a>', '<a></a><b/>', 'text', '<a>&bogus;</a>', '<a><!-- open', '<a x="1"']) {
      expect(() => parseXml(bad), bad).toThrow(XmlError);
    }
  });

  it('decodes numeric references and leaves out-of-range ones alone', () => {
    expect(decodeEntities('&#65;&#x42;&lt;&#0;')).toBe('AB<&#0;');
  });
});
