/**
 * Hand-written Kubernetes protobuf, for bodies kubectl would never send: the `k8s\0` envelope and fields
 * laid out byte by byte, so a test can send the forms two readers might take differently.
 */
export function varint(value: number): Buffer {
  const out: number[] = [];
  for (; value > 0x7f; value = Math.floor(value / 128)) out.push((value % 128) | 0x80);
  out.push(value);
  return Buffer.from(out);
}

/** One length-delimited field (wire type 2). */
export const field = (id: number, payload: Buffer | string) => Buffer.concat([varint(id * 8 + 2), varint(Buffer.byteLength(payload)), Buffer.from(payload)]);

/** One varint field (wire type 0), its value bytes as given (so they may be overlong or out of range). */
export const varintField = (id: number, value: Buffer) => Buffer.concat([varint(id * 8), value]);

/** The `k8s\0` envelope: a runtime.Unknown naming the kind, around the object's message. */
export const envelope = (apiVersion: string, kind: string, raw: Buffer) => Buffer.concat([Buffer.from('k8s\0'), field(1, Buffer.concat([field(1, apiVersion), field(2, kind)])), field(2, raw)]);

/** A Pod's message: ObjectMeta name, one container `a` of busybox with `securityContext` as given, then `extraSpec` in its spec. */
export const podMessage = (name: string, securityContext: Buffer, extraSpec = Buffer.alloc(0)) =>
  Buffer.concat([field(1, field(1, name)), field(2, Buffer.concat([field(2, Buffer.concat([field(1, 'a'), field(2, 'busybox'), field(15, securityContext)])), extraSpec]))]);

/** That Pod in its envelope: a request body. */
export const podBody = (name: string, securityContext: Buffer, extraSpec = Buffer.alloc(0)) => envelope('v1', 'Pod', podMessage(name, securityContext, extraSpec));

/** The Pod with its spec (field 2) sent a second time, holding only `restartPolicy: Always`: Go merges the two specs, protobufjs keeps the second. */
export const podWithSecondSpec = (name: string, securityContext: Buffer) => envelope('v1', 'Pod', Buffer.concat([podMessage(name, securityContext), field(2, field(3, 'Always'))]));

/** SecurityContext.privileged (field 2) with its varint bytes as given. */
export const privileged = (value: Buffer) => varintField(2, value);

/** 2^32 as a varint: a bool any non-zero uint64 makes true (Go), or false to a 32-bit reader. */
export const twoToThe32 = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x10]);
