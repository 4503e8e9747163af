// Cases shared in a link: JSON, deflated (CompressionStream) and written base64url, so a
// link carries code and workload in a few hundred characters.
const kMaxSharedBytes = 1024 * 1024;  // decompressed: a link opens at most this much

const toBase64Url = (bytes) => {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
};

const fromBase64Url = (text) => {
  const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/'));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
};

async function through(stream, bytes, limit = Infinity) {
  const writer = stream.writable.getWriter();
  writer.write(bytes).catch(() => {});
  writer.close().catch(() => {});
  const chunks = [];
  let size = 0;
  const reader = stream.readable.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      throw new Error('the link holds more than 1 MiB');
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) { out.set(chunk, at); at += chunk.length; }
  return out;
}

export async function encodeShared(value) {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  return toBase64Url(await through(new CompressionStream('deflate-raw'), bytes));
}

// The value a link holds; a clear error for anything that is not one.
export async function decodeShared(text) {
  try {
    const bytes = await through(new DecompressionStream('deflate-raw'), fromBase64Url(text), kMaxSharedBytes);
    const value = JSON.parse(new TextDecoder().decode(bytes));
    if (!value || typeof value !== 'object') throw new Error('not an object');
    return value;
  } catch (error) {
    throw new Error(`the link's case cannot be read: ${error.message}`);
  }
}
