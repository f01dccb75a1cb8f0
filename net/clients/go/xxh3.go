package coffer

// XXH3-64 (seed 0) of frame bodies, from Debian's libxxhash (libxxhash-dev):
// the Go xxhash packages Debian ships are XXH64 only, and the protocol
// needs XXH3_64bits exactly as xxHash >= 0.8 computes it.

/*
#cgo LDFLAGS: -lxxhash
#include <stddef.h>
#include <xxhash.h>

static unsigned long long coffer_xxh3(const void* p, size_t n) {
	return (unsigned long long)XXH3_64bits(p, n);
}
*/
import "C"

import "unsafe"

// XXH3 returns XXH3_64bits(b) with seed 0, the checksum of a frame body.
func XXH3(b []byte) uint64 {
	if len(b) == 0 {
		return uint64(C.coffer_xxh3(nil, 0))
	}
	return uint64(C.coffer_xxh3(unsafe.Pointer(&b[0]), C.size_t(len(b))))
}
