package directory

import (
	"encoding/binary"

	"github.com/shoalhq/shoal/registry/internal/wire"
)

// The wire form of records and of the replication stream's messages,
// written by hand: they are most of what nodes send each other (every
// registration and every checkpoint is a record sent to the replicas and
// answered), and a generic encoding of them cost more than the rest of
// the machine's work on them (CBOR, keyed by field name, took 3.7x as
// long to encode and decode a one-record MsgOps through the codec:
// BenchmarkDirectoryWire in package registry).
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

// MarshalBinary implements encoding.BinaryMarshaler.
func (r Record) MarshalBinary() ([]byte, error) { return appendRecordBody(nil, &r), nil }

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (r *Record) UnmarshalBinary(b []byte) error {
	d := reader{wire.NewPart(b)}
	*r = d.recordBody()
	return d.End("record")
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m MsgOps) MarshalBinary() ([]byte, error) {
	size := 32
	for i := range m.Ops {
		size += m.Ops[i].size()
	}
	b := appendHead(make([]byte, 0, size), m.P, m.Stream, m.Seq)
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
	d := reader{wire.NewReader(b)}
	m.P, m.Stream, m.Seq = d.head()
	n := d.Count(3)
	m.Ops = nil
	if n > 0 {
		m.Ops = make([]Op, n)
	}
	for i := range m.Ops {
		op := &m.Ops[i]
		op.Kind = OpKind(d.Byte())
		op.Rec = d.record()
		op.Tomb = d.tomb()
	}
	return d.End("ops")
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m MsgAck) MarshalBinary() ([]byte, error) {
	return appendHead(make([]byte, 0, 40+len(m.Stream.Node.Name)), m.P, m.Stream, m.Seq), nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (m *MsgAck) UnmarshalBinary(b []byte) error {
	d := reader{wire.NewReader(b)}
	m.P, m.Stream, m.Seq = d.head()
	return d.End("ack")
}

// appendHead appends what a stream message starts with: the format, its
// partition, stream and number.
func appendHead(b []byte, p int, s Stream, seq uint64) []byte {
	b = append(b, wireFormat)
	b = binary.AppendUvarint(b, uint64(p))
	b = appendStream(b, s)
	return binary.AppendUvarint(b, seq)
}

// head reads what appendHead wrote.
func (d *reader) head() (p int, s Stream, seq uint64) {
	d.Format(wireFormat)
	p = d.Int()
	s = d.stream()
	return p, s, d.Uvarint()
}

func appendNodeID(b []byte, n NodeID) []byte {
	return binary.AppendUvarint(wire.AppendString(b, n.Name), n.Inc)
}

func appendInst(b []byte, i Inst) []byte {
	return binary.AppendUvarint(appendNodeID(b, i.Node), i.ID)
}

func appendStream(b []byte, s Stream) []byte {
	return binary.AppendUvarint(appendNodeID(b, s.Node), s.Epoch)
}

func appendTomb(b []byte, t Tomb) []byte {
	b = wire.AppendString(b, t.Name)
	b = binary.AppendUvarint(b, t.Reg.Inc)
	b = binary.AppendUvarint(b, t.Reg.Seq)
	return binary.AppendUvarint(b, t.Expires)
}

func appendRecord(b []byte, r *Record) []byte {
	return wire.AppendPrefixed(b, func(b []byte) []byte { return appendRecordBody(b, r) })
}

func appendRecordBody(b []byte, r *Record) []byte {
	b = wire.AppendString(b, r.Name)
	b = binary.AppendUvarint(b, r.Reg.Inc)
	b = binary.AppendUvarint(b, r.Reg.Seq)
	b = wire.AppendString(b, r.Spec.Kind)
	b = wire.AppendBytes(b, r.Spec.Args)
	b = wire.AppendBool(b, r.Spec.Checkpoints)
	b = appendInst(b, r.Inst)
	b = binary.AppendUvarint(b, r.Gen)
	b = wire.AppendBool(b, r.More != nil)
	if m := r.More; m != nil {
		b = wire.AppendPrefixed(b, func(b []byte) []byte { return appendMore(b, m) })
	}
	return b
}

func appendMore(b []byte, m *RecordMore) []byte {
	b = binary.AppendUvarint(b, uint64(len(m.Groups)))
	for _, g := range m.Groups {
		b = wire.AppendString(b, g)
	}
	b = binary.AppendUvarint(b, m.GVer)
	b = appendInst(b, m.From)
	b = binary.AppendUvarint(b, uint64(len(m.Absorbed)))
	for _, a := range m.Absorbed {
		b = appendInst(b, a.Loser)
		b = appendInst(b, a.Into)
		b = wire.AppendBool(b, a.In)
	}
	b = wire.AppendBool(b, m.Ckpt != nil)
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
	return wire.AppendPrefixed(b, func(b []byte) []byte {
		b = appendInst(b, c.Inst)
		b = binary.AppendUvarint(b, c.Seq)
		b = wire.AppendBytes(b, c.State)
		b = binary.AppendUvarint(b, uint64(len(c.Holds)))
		for _, h := range c.Holds {
			b = appendInst(b, h)
		}
		b = appendInst(b, c.Base.Inst)
		return binary.AppendUvarint(b, c.Base.Seq)
	})
}

// reader reads the directory's types.
type reader struct{ *wire.Reader }

// Composite literals call their operands' functions left to right.

func (d *reader) nodeID() NodeID { return NodeID{Name: d.String(), Inc: d.Uvarint()} }

func (d *reader) inst() Inst { return Inst{Node: d.nodeID(), ID: d.Uvarint()} }

func (d *reader) stream() Stream { return Stream{Node: d.nodeID(), Epoch: d.Uvarint()} }

func (d *reader) tomb() Tomb {
	var t Tomb
	t.Name = d.String()
	t.Reg.Inc = d.Uvarint()
	t.Reg.Seq = d.Uvarint()
	t.Expires = d.Uvarint()
	return t
}

func (d *reader) record() Record {
	var r Record
	d.Prefixed(func(p *wire.Reader) { r = (&reader{p}).recordBody() })
	return r
}

// recordBody reads a record's fields.
func (d *reader) recordBody() Record {
	var r Record
	r.Name = d.String()
	r.Reg.Inc = d.Uvarint()
	r.Reg.Seq = d.Uvarint()
	r.Spec.Kind = d.String()
	r.Spec.Args = d.Bytes()
	r.Spec.Checkpoints = d.Bool()
	r.Inst = d.inst()
	r.Gen = d.Uvarint()
	if d.Bool() {
		m := &RecordMore{}
		d.Prefixed(func(p *wire.Reader) { (&reader{p}).more(m) })
		r.More = m
	}
	return r
}

func (d *reader) more(m *RecordMore) {
	if n := d.Count(1); n > 0 {
		m.Groups = make([]string, n)
		for i := range m.Groups {
			m.Groups[i] = d.String()
		}
	}
	m.GVer = d.Uvarint()
	m.From = d.inst()
	if n := d.Count(5); n > 0 {
		m.Absorbed = make([]Merge, n)
		for i := range m.Absorbed {
			a := &m.Absorbed[i]
			a.Loser = d.inst()
			a.Into = d.inst()
			a.In = d.Bool()
		}
	}
	if d.Bool() {
		c := &Checkpoint{}
		d.Prefixed(func(p *wire.Reader) { *c = (&reader{p}).ckpt() })
		m.Ckpt = c
	}
	if n := d.Count(1); n > 0 {
		m.Orphans = make([]Checkpoint, n)
		for i := range m.Orphans {
			d.Prefixed(func(p *wire.Reader) { m.Orphans[i] = (&reader{p}).ckpt() })
		}
	}
}

func (d *reader) ckpt() Checkpoint {
	var c Checkpoint
	c.Inst = d.inst()
	c.Seq = d.Uvarint()
	c.State = d.Bytes()
	if n := d.Count(3); n > 0 {
		c.Holds = make([]Inst, n)
		for i := range c.Holds {
			c.Holds[i] = d.inst()
		}
	}
	c.Base.Inst = d.inst()
	c.Base.Seq = d.Uvarint()
	return c
}
