// Small DOM helpers shared by the panels.

export const $ = (id) => document.getElementById(id);

export const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') node.className = value;
    else if (key.startsWith('data-')) node.setAttribute(key, value);
    else if (key === 'onclick') node.addEventListener('click', value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ''));
  return node;
};

export function download(name, bytes, type) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const link = el('a', { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// The chosen file of a file input, clearing the input so choosing the same
// file again fires another change event.
export async function readFile(input) {
  const file = input.files[0];
  input.value = '';
  if (!file) throw new Error('no file chosen');
  return file;
}

// Line numbers for a code editor: `gutter` (a pre beside `textarea`) numbers its lines
// and follows its scrolling. Returns the redraw, for code that sets the value itself.
export function lineNumbers(textarea, gutter) {
  const draw = () => {
    const lines = textarea.value.split('\n').length;
    gutter.textContent = Array.from({ length: lines }, (_, i) => i + 1).join('\n');
    gutter.scrollTop = textarea.scrollTop;
  };
  textarea.addEventListener('input', draw);
  textarea.addEventListener('scroll', draw);
  draw();
  return draw;
}
