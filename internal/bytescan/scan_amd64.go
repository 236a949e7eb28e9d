//go:build amd64

package bytescan

import "golang.org/x/sys/cpu"

// useAVX2 is the processor's, fixed for the life of the process.
var useAVX2 = cpu.X86.HasAVX2

// scanAVX2 is the kernel in assembly: n is a multiple of 64 and dst holds
// n/64 blocks.
//
//go:noescape
func scanAVX2(t *tables, src *byte, n int, dst *Block)

func scanBlocks(t *tables, src []byte, dst []Block) {
	if useAVX2 {
		_ = dst[len(src)/BlockSize-1]
		scanAVX2(t, &src[0], len(src), &dst[0])
		return
	}
	scanGeneric(t, src, dst)
}
