package directory

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The wire form of records and of the replication stream's messages,
// written by hand: they are most of what nodes send each other (every
// registration and every checkpoint is a record sent to the replicas and
// answered), and a generic encoding of them cost more than the rest of
// the machine's work on them (CBOR, keyed by field name: about 6 µs to
// encode and decode a one-record MsgOps, against under 1 µs here).
//
// Record, MsgOps and MsgAck implement encoding.BinaryMarshaler and
// BinaryUnmarshaler, which the host's codec uses in place of its own
// encoding; the other messages keep the codec's (records inside them take
// this form).
//
// The form: unsigned varints, strings and byte strings as a varint length
// and the bytes, booleans as a byte. A record, its RecordMore and each
// checkpoint are each prefixed with their length: a later release may
// append fields to any of them, which this one skips, and a record from
// an earlier one that lacks the last fields decodes them as zero, as the
// codec does for struct fields. A message starts with a format byte.

// wireFormat is the first byte of an encoded MsgOps or MsgAck.
const wireFormat = 1

// errWire is what a malformed encoding fails with.
var errWire = errors.New("directory: malformed encoding")

// MarshalBinary implements encoding.BinaryMarshaler.
func (r Record) MarshalBinary() ([]byte, error) { return appendRecordBody(nil, &r), nil }

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (r *Record) UnmarshalBinary(b []byte) error {
	d := wireReader{b: b, lenient: true}
	*r = d.recordBody()
	return d.end("record")
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m MsgOps) MarshalBinary() ([]byte, error) {
	size := 32
	for i := range m.Ops {
		size += m.Ops[i].size()
	}
	b := make([]byte, 0, size)
	b = append(b, wireFormat)
	b = binary.AppendUvarint(b, uint64(m.P))
	b = appendStream(b, m.Stream)
	b = binary.AppendUvarint(b, m.Seq)
	b = binary.AppendUvarint(b, uint64(len(m.Ops)))
	for i := range m.Ops {
		op := &m.Ops[i]
		b = append(b, byte(op.Kind))
		b = appendRecord(b, &op.Rec)
		b = appendTomb(b, op.Tomb)
	}
	return b, nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (m *MsgOps) UnmarshalBinary(b []byte) error {
	d := wireReader{b: b}
	d.format()
	m.P = d.int()
	m.Stream = d.stream()
	m.Seq = d.uvarint()
	n := d.count(3)
	m.Ops = nil
	if n > 0 {
		m.Ops = make([]Op, n)
	}
	for i := range m.Ops {
		op := &m.Ops[i]
		op.Kind = OpKind(d.byte())
		op.Rec = d.record()
		op.Tomb = d.tomb()
	}
	return d.end("ops")
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m MsgAck) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 40+len(m.Stream.Node.Name))
	b = append(b, wireFormat)
	b = binary.AppendUvarint(b, uint64(m.P))
	b = appendStream(b, m.Stream)
	return binary.AppendUvarint(b, m.Seq), nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (m *MsgAck) UnmarshalBinary(b []byte) error {
	d := wireReader{b: b}
	d.format()
	m.P = d.int()
	m.Stream = d.stream()
	m.Seq = d.uvarint()
	return d.end("ack")
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendNodeID(b []byte, n NodeID) []byte {
	return binary.AppendUvarint(appendString(b, n.Name), n.Inc)
}

func appendInst(b []byte, i Inst) []byte {
	return binary.AppendUvarint(appendNodeID(b, i.Node), i.ID)
}

func appendStream(b []byte, s Stream) []byte {
	return binary.AppendUvarint(appendNodeID(b, s.Node), s.Epoch)
}

func appendTomb(b []byte, t Tomb) []byte {
	b = appendString(b, t.Name)
	b = binary.AppendUvarint(b, t.Reg.Inc)
	b = binary.AppendUvarint(b, t.Reg.Seq)
	return binary.AppendUvarint(b, t.Expires)
}

// appendPrefixed appends what body appends, prefixed with its length.
// The length is written in a byte first and moved if it needs more.
func appendPrefixed(b []byte, body func([]byte) []byte) []byte {
	at := len(b)
	b = append(b, 0)
	b = body(b)
	n := len(b) - at - 1
	if n < 0x80 {
		b[at] = byte(n)
		return b
	}
	var l [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(l[:], uint64(n))
	b = append(b, l[:k-1]...) // room for the longer prefix
	copy(b[at+k:], b[at+1:at+1+n])
	copy(b[at:], l[:k])
	return b
}

func appendRecord(b []byte, r *Record) []byte {
	return appendPrefixed(b, func(b []byte) []byte { return appendRecordBody(b, r) })
}

func appendRecordBody(b []byte, r *Record) []byte {
	b = appendString(b, r.Name)
	b = binary.AppendUvarint(b, r.Reg.Inc)
	b = binary.AppendUvarint(b, r.Reg.Seq)
	b = appendString(b, r.Spec.Kind)
	b = appendBytes(b, r.Spec.Args)
	b = appendBool(b, r.Spec.Checkpoints)
	b = appendInst(b, r.Inst)
	b = binary.AppendUvarint(b, r.Gen)
	b = appendBool(b, r.More != nil)
	if m := r.More; m != nil {
		b = appendPrefixed(b, func(b []byte) []byte { return appendMore(b, m) })
	}
	return b
}

func appendMore(b []byte, m *RecordMore) []byte {
	b = binary.AppendUvarint(b, uint64(len(m.Groups)))
	for _, g := range m.Groups {
		b = appendString(b, g)
	}
	b = binary.AppendUvarint(b, m.GVer)
	b = appendInst(b, m.From)
	b = binary.AppendUvarint(b, uint64(len(m.Absorbed)))
	for _, a := range m.Absorbed {
		b = appendInst(b, a.Loser)
		b = appendInst(b, a.Into)
		b = appendBool(b, a.In)
	}
	b = appendBool(b, m.Ckpt != nil)
	if m.Ckpt != nil {
		b = appendCkpt(b, m.Ckpt)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Orphans)))
	for i := range m.Orphans {
		b = appendCkpt(b, &m.Orphans[i])
	}
	return b
}

func appendCkpt(b []byte, c *Checkpoint) []byte {
	return appendPrefixed(b, func(b []byte) []byte {
		b = appendInst(b, c.Inst)
		b = binary.AppendUvarint(b, c.Seq)
		b = appendBytes(b, c.State)
		b = binary.AppendUvarint(b, uint64(len(c.Holds)))
		for _, h := range c.Holds {
			b = appendInst(b, h)
		}
		b = appendInst(b, c.Base.Inst)
		return binary.AppendUvarint(b, c.Base.Seq)
	})
}

// wireReader decodes; the first error sticks, and every read after it
// returns zero values.
type wireReader struct {
	b   []byte
	err error
	// lenient: the bytes are a whole part (its length was known), so
	// one that ends at a field leaves that field and the rest zero.
	lenient bool
}

func (d *wireReader) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errWire, what)
	}
	d.b = nil
}

// end reports the first error, or bytes left over.
func (d *wireReader) end(what string) error {
	if d.err == nil && len(d.b) > 0 {
		d.fail("bytes after the " + what)
	}
	if d.err != nil {
		return fmt.Errorf("decode %s: %w", what, d.err)
	}
	return nil
}

func (d *wireReader) format() {
	if f := d.byte(); f != wireFormat && d.err == nil {
		d.fail(fmt.Sprintf("format %d, want %d", f, wireFormat))
	}
}

func (d *wireReader) byte() byte {
	if len(d.b) == 0 {
		if !d.lenient {
			d.fail("truncated")
		}
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *wireReader) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad boolean")
	return false
}

func (d *wireReader) uvarint() uint64 {
	if len(d.b) == 0 && d.lenient {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int reads a non-negative int (a partition, a count).
func (d *wireReader) int() int {
	v := d.uvarint()
	if v > 1<<31 {
		d.fail("number out of range")
		return 0
	}
	return int(v)
}

// count reads a number of elements of at least min bytes each: never
// more than the bytes left can hold.
func (d *wireReader) count(min int) int {
	n := d.int()
	if n > len(d.b)/min {
		d.fail("count beyond the bytes left")
		return 0
	}
	return n
}

// take returns the next n bytes (aliasing the input).
func (d *wireReader) take(n int) []byte {
	if n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *wireReader) string() string { return string(d.take(d.count(1))) }

// bytes returns a copy (nil for none): the input is the caller's.
func (d *wireReader) bytes() []byte {
	p := d.take(d.count(1))
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

// Composite literals call their operands' functions left to right.

func (d *wireReader) nodeID() NodeID { return NodeID{Name: d.string(), Inc: d.uvarint()} }

func (d *wireReader) inst() Inst { return Inst{Node: d.nodeID(), ID: d.uvarint()} }

func (d *wireReader) stream() Stream { return Stream{Node: d.nodeID(), Epoch: d.uvarint()} }

func (d *wireReader) tomb() Tomb {
	var t Tomb
	t.Name = d.string()
	t.Reg.Inc = d.uvarint()
	t.Reg.Seq = d.uvarint()
	t.Expires = d.uvarint()
	return t
}

// prefixed reads a length-prefixed part with f; what f leaves of it (the
// fields of a later release) is skipped, and fields past its end (an
// earlier release's part) read as zero.
func (d *wireReader) prefixed(f func(p *wireReader)) {
	body := d.take(d.count(1))
	if d.err != nil {
		return
	}
	p := wireReader{b: body, lenient: true}
	f(&p)
	if p.err != nil {
		d.err = p.err
		d.b = nil
	}
}

func (d *wireReader) record() Record {
	var r Record
	d.prefixed(func(p *wireReader) { r = p.recordBody() })
	return r
}

// recordBody reads a record's fields.
func (d *wireReader) recordBody() Record {
	var r Record
	r.Name = d.string()
	r.Reg.Inc = d.uvarint()
	r.Reg.Seq = d.uvarint()
	r.Spec.Kind = d.string()
	r.Spec.Args = d.bytes()
	r.Spec.Checkpoints = d.bool()
	r.Inst = d.inst()
	r.Gen = d.uvarint()
	if d.bool() {
		m := &RecordMore{}
		d.prefixed(func(p *wireReader) { p.more(m) })
		r.More = m
	}
	return r
}

func (d *wireReader) more(m *RecordMore) {
	if n := d.count(1); n > 0 {
		m.Groups = make([]string, n)
		for i := range m.Groups {
			m.Groups[i] = d.string()
		}
	}
	m.GVer = d.uvarint()
	m.From = d.inst()
	if n := d.count(5); n > 0 {
		m.Absorbed = make([]Merge, n)
		for i := range m.Absorbed {
			a := &m.Absorbed[i]
			a.Loser = d.inst()
			a.Into = d.inst()
			a.In = d.bool()
		}
	}
	if d.bool() {
		c := &Checkpoint{}
		d.prefixed(func(p *wireReader) { *c = p.ckpt() })
		m.Ckpt = c
	}
	if n := d.count(1); n > 0 {
		m.Orphans = make([]Checkpoint, n)
		for i := range m.Orphans {
			d.prefixed(func(p *wireReader) { m.Orphans[i] = p.ckpt() })
		}
	}
}

func (d *wireReader) ckpt() Checkpoint {
	var c Checkpoint
	c.Inst = d.inst()
	c.Seq = d.uvarint()
	c.State = d.bytes()
	if n := d.count(3); n > 0 {
		c.Holds = make([]Inst, n)
		for i := range c.Holds {
			c.Holds[i] = d.inst()
		}
	}
	c.Base.Inst = d.inst()
	c.Base.Seq = d.uvarint()
	return c
}
