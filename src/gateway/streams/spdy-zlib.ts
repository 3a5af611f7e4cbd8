/**
 * SPDY/3 header compression: all header blocks of one direction form ONE zlib stream, primed with
 * the SPDY dictionary and flushed with Z_SYNC_FLUSH after each block, so a block can refer back to
 * the text of earlier blocks. node:zlib cannot carry that state synchronously (its sync API closes
 * the stream after each call, its stream API is asynchronous), so decompression is a small inflate
 * (RFC 1951, after zlib's puff.c) that keeps the last 32 KiB of output as the only state between
 * blocks. It accepts a block only if it ends exactly on a deflate block boundary that is also a byte
 * boundary — what a sync flush produces — because only there is "start fresh with this window" the
 * same state the peer's continuous decompressor is in; anything else could make kubegate read
 * different headers from those the peer reads, and is a `ProtocolError`.
 */
import { constants, deflateRawSync } from 'node:zlib';
import { ProtocolError } from './decoding.js';

const dictionaryWords = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language',
  'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'etag',
  'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
  'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive',
  'origin',
];
const dictionaryTail =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
  '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
  'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
  'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
  'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

/**
 * The 1423-byte SPDY/3 header dictionary (draft-mbelshe-httpbis-spdy-00 §2.6.10.1): each word with
 * its 32-bit big-endian length, then the status lines, dates and media types as one string.
 */
export const spdyDictionary: Buffer = Buffer.concat([
  ...dictionaryWords.map((word) => {
    const entry = Buffer.alloc(4 + word.length);
    entry.writeUInt32BE(word.length, 0);
    entry.write(word, 4, 'latin1');
    return entry;
  }),
  Buffer.from(dictionaryTail, 'latin1'),
]);

/** Adler-32 of the dictionary: the DICTID in the zlib header of every SPDY/3 header stream. */
const dictionaryId = 0xe3c6a7c2;
const windowBytes = 32 * 1024;

function nextWindow(window: Buffer, output: Buffer): Buffer {
  const joined = Buffer.concat([window, output]);
  return Buffer.from(joined.subarray(Math.max(0, joined.length - windowBytes)));
}

/** One direction's compressor: a zlib stream whose history is the dictionary plus earlier blocks. */
export class HeaderDeflater {
  private window = spdyDictionary;
  private started = false;

  deflate(block: Buffer): Buffer {
    const raw = deflateRawSync(block, { dictionary: this.window, finishFlush: constants.Z_SYNC_FLUSH });
    this.window = nextWindow(this.window, block);
    if (this.started) return raw;
    this.started = true;
    // CMF 0x78 (deflate, 32 KiB window), FLG 0xbb (default level, preset dictionary, check bits)
    const header = Buffer.from([0x78, 0xbb, 0, 0, 0, 0]);
    header.writeUInt32BE(dictionaryId, 2);
    return Buffer.concat([header, raw]);
  }
}

/** One direction's decompressor. */
export class HeaderInflater {
  private window = spdyDictionary;
  private started = false;

  constructor(private readonly maxOutputBytes: number) {}

  inflate(block: Buffer): Buffer {
    let input = block;
    if (!this.started) {
      input = block.subarray(zlibHeaderLength(block));
      this.started = true;
    }
    const output = new Inflate(input, this.window, this.maxOutputBytes).run();
    this.window = nextWindow(this.window, output);
    return output;
  }
}

function zlibHeaderLength(block: Buffer): number {
  if (block.length < 2) throw new ProtocolError('SPDY header block too short for a zlib header');
  const cmf = block[0]!;
  const flg = block[1]!;
  if ((cmf & 0x0f) !== 8 || cmf >> 4 > 7 || (cmf * 256 + flg) % 31 !== 0) throw new ProtocolError('SPDY header block without a valid zlib header');
  if (!(flg & 0x20)) return 2; // like Go, the dictionary is used even when the header does not name it
  if (block.length < 6 || block.readUInt32BE(2) !== dictionaryId) throw new ProtocolError('SPDY header block names a dictionary other than SPDY/3');
  return 6;
}

const maxBits = 15;
const lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/** Order in which code length code lengths are sent. */
const codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** A canonical Huffman code: how many codes of each length, and the symbols in code order. */
interface Huffman {
  count: Uint16Array;
  symbol: Uint16Array;
}

/** The code for `lengths`, and how many codes are left unused (negative: over-subscribed). */
function huffman(lengths: Uint8Array): { code: Huffman; left: number } {
  const count = new Uint16Array(maxBits + 1);
  for (const length of lengths) count[length]!++;
  let left = 1;
  if (count[0] !== lengths.length) {
    for (let length = 1; length <= maxBits; length++) {
      left = left * 2 - count[length]!;
      if (left < 0) return { code: { count, symbol: new Uint16Array(0) }, left };
    }
  } else {
    left = 0;
  }
  const offsets = new Uint16Array(maxBits + 2);
  for (let length = 1; length <= maxBits; length++) offsets[length + 1] = offsets[length]! + count[length]!;
  const symbol = new Uint16Array(lengths.length);
  lengths.forEach((length, s) => {
    if (length !== 0) symbol[offsets[length]!++] = s;
  });
  return { code: { count, symbol }, left };
}

const fixedLengthCode = huffman(Uint8Array.from({ length: 288 }, (_, s) => (s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8))).code;
const fixedDistanceCode = huffman(new Uint8Array(30).fill(5)).code;

/** Inflates one header block's raw deflate data, with `window` as the history before it. */
class Inflate {
  private position = 0;
  private bitBuffer = 0;
  private bitCount = 0;
  private out: Buffer;
  private written: number;
  private readonly limit: number;

  constructor(
    private readonly input: Buffer,
    window: Buffer,
    maxOutputBytes: number,
  ) {
    this.limit = window.length + maxOutputBytes;
    this.out = Buffer.allocUnsafe(Math.min(this.limit, window.length + 1024));
    this.written = window.copy(this.out);
  }

  run(): Buffer {
    const start = this.written;
    do {
      if (this.bits(1)) throw new ProtocolError('SPDY header stream ended with a final deflate block');
      const type = this.bits(2);
      if (type === 0) this.stored();
      else if (type === 1) this.codes(fixedLengthCode, fixedDistanceCode);
      else if (type === 2) this.dynamic();
      else throw new ProtocolError('invalid deflate block type');
    } while (this.bitCount !== 0 || this.position !== this.input.length);
    return this.out.subarray(start, this.written);
  }

  private bits(n: number): number {
    let value = this.bitBuffer;
    while (this.bitCount < n) {
      if (this.position >= this.input.length) throw new ProtocolError('SPDY header block does not end at a zlib sync flush');
      value |= this.input[this.position++]! << this.bitCount;
      this.bitCount += 8;
    }
    this.bitBuffer = value >>> n;
    this.bitCount -= n;
    return value & ((1 << n) - 1);
  }

  private reserve(n: number): void {
    if (this.written + n <= this.out.length) return;
    if (this.written + n > this.limit) throw new ProtocolError('SPDY header block inflates beyond the header block limit');
    const grown = Buffer.allocUnsafe(Math.min(this.limit, Math.max(this.out.length * 2, this.written + n)));
    this.out.copy(grown, 0, 0, this.written);
    this.out = grown;
  }

  private stored(): void {
    this.bitBuffer = 0;
    this.bitCount = 0;
    const at = this.position;
    if (at + 4 > this.input.length) throw new ProtocolError('SPDY header block does not end at a zlib sync flush');
    const length = this.input.readUInt16LE(at);
    if (length !== (~this.input.readUInt16LE(at + 2) & 0xffff)) throw new ProtocolError('deflate stored block length check failed');
    if (at + 4 + length > this.input.length) throw new ProtocolError('SPDY header block does not end at a zlib sync flush');
    this.reserve(length);
    this.written += this.input.copy(this.out, this.written, at + 4, at + 4 + length);
    this.position = at + 4 + length;
  }

  private decode(code: Huffman): number {
    let bits = 0;
    let first = 0;
    let index = 0;
    for (let length = 1; length <= maxBits; length++) {
      bits |= this.bits(1);
      const count = code.count[length]!;
      if (bits - count < first) return code.symbol[index + (bits - first)]!;
      index += count;
      first = (first + count) << 1;
      bits <<= 1;
    }
    throw new ProtocolError('invalid deflate Huffman code');
  }

  private codes(lengthCode: Huffman, distanceCode: Huffman): void {
    for (;;) {
      let symbol = this.decode(lengthCode);
      if (symbol < 256) {
        this.reserve(1);
        this.out[this.written++] = symbol;
        continue;
      }
      if (symbol === 256) return;
      symbol -= 257;
      if (symbol >= 29) throw new ProtocolError('invalid deflate length symbol');
      const length = lengthBase[symbol]! + this.bits(lengthExtra[symbol]!);
      const distanceSymbol = this.decode(distanceCode);
      if (distanceSymbol >= 30) throw new ProtocolError('invalid deflate distance symbol');
      const distance = distanceBase[distanceSymbol]! + this.bits(distanceExtra[distanceSymbol]!);
      if (distance > this.written) throw new ProtocolError('deflate distance reaches before the header history');
      this.reserve(length);
      for (let i = 0; i < length; i++, this.written++) this.out[this.written] = this.out[this.written - distance]!;
    }
  }

  private dynamic(): void {
    const lengthCount = this.bits(5) + 257;
    const distanceCount = this.bits(5) + 1;
    const codeLengthCount = this.bits(4) + 4;
    if (lengthCount > 286 || distanceCount > 30) throw new ProtocolError('deflate dynamic block with too many codes');
    const codeLengths = new Uint8Array(19);
    for (let i = 0; i < codeLengthCount; i++) codeLengths[codeLengthOrder[i]!] = this.bits(3);
    const codeLengthCode = huffman(codeLengths);
    if (codeLengthCode.left !== 0) throw new ProtocolError('deflate code length code is incomplete');
    const lengths = new Uint8Array(lengthCount + distanceCount);
    for (let index = 0; index < lengths.length; ) {
      const symbol = this.decode(codeLengthCode.code);
      if (symbol < 16) {
        lengths[index++] = symbol;
        continue;
      }
      if (symbol === 16 && index === 0) throw new ProtocolError('deflate repeat with no previous length');
      const repeated = symbol === 16 ? lengths[index - 1]! : 0;
      const times = symbol === 16 ? 3 + this.bits(2) : symbol === 17 ? 3 + this.bits(3) : 11 + this.bits(7);
      if (index + times > lengths.length) throw new ProtocolError('deflate code lengths overflow');
      lengths.fill(repeated, index, index + times);
      index += times;
    }
    if (lengths[256] === 0) throw new ProtocolError('deflate dynamic block without an end-of-block code');
    const lengthCode = completeCode(lengths.subarray(0, lengthCount));
    const distanceCode = completeCode(lengths.subarray(lengthCount));
    this.codes(lengthCode, distanceCode);
  }
}

/** Incomplete codes are allowed only as a single one-bit code (zlib's and puff's rule). */
function completeCode(lengths: Uint8Array): Huffman {
  const { code, left } = huffman(lengths);
  if (left < 0 || (left > 0 && lengths.length - code.count[0]! !== code.count[1]!)) throw new ProtocolError('deflate Huffman code is over-subscribed or incomplete');
  return code;
}
