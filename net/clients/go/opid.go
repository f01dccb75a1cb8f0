package coffer

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
)

// OpIDs makes op ids: a random 64-bit starting point (crypto/rand), then
// a counter. Safe for concurrent use.
//
// Why this is safe: one generator never repeats an id (it would need 2^64
// ids) and never yields 0. Two generators (processes, restarts) collide
// only if their runs of ids overlap; for k generators issuing n ids each,
// the chance of any overlap is about k^2 * n / 2^64: 1,000 processes of a
// billion ids each, about 5e-5 over the whole retention window. That is
// far below picking each id at random (about (k*n)^2 / 2^65, which the
// birthday bound makes likely at 10^9-10^10 ids). Only ids the server still
// remembers (its op-id retention, 24 h by default) can collide at all, and
// even then a colliding op with other fields is refused with
// op_id_reused_with_different_fields, never applied as the other op.
//
// Keep the ids of an op you may retry: a retry must send the same id.
type OpIDs struct{ next uint64 }

// NewOpIDs returns a generator seeded from crypto/rand.
func NewOpIDs() *OpIDs {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("coffer: crypto/rand: " + err.Error())
	}
	return &OpIDs{next: binary.LittleEndian.Uint64(b[:])}
}

// Next returns a fresh non-zero op id.
func (g *OpIDs) Next() uint64 {
	for {
		if id := atomic.AddUint64(&g.next, 1); id != 0 {
			return id
		}
	}
}

var defaultOpIDs = NewOpIDs()

// NewOpID returns a fresh non-zero op id from the process's generator.
func NewOpID() uint64 { return defaultOpIDs.Next() }
