//go:build !amd64

package bytescan

func scanBlocks(t *tables, src []byte, dst []Block) { scanGeneric(t, src, dst) }
