//go:build amd64

#include "textflag.h"

// func scanAVX2(t *tables, src *byte, n int, dst *Block)
//
// For each 64 bytes: compare with '"' and '\\' for the quote and
// backslash masks; look each byte's low and high nibble up in the class
// tables (VPSHUFB) and AND the two: bit 7 of the result is the digit
// class (VPMOVMSKB takes it directly), bits 0-6 the member classes.
TEXT ·scanAVX2(SB), NOSPLIT, $0-32
	MOVQ t+0(FP), AX
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ dst+24(FP), DI
	VMOVDQU 0(AX), Y8    // lo
	VMOVDQU 32(AX), Y9   // hi
	VMOVDQU 64(AX), Y10  // '"'
	VMOVDQU 96(AX), Y11  // '\\'
	VMOVDQU 128(AX), Y12 // 0x0f
	VMOVDQU 160(AX), Y13 // 0x7f
	VPXOR   Y14, Y14, Y14
	ADDQ    SI, CX

loop:
	CMPQ SI, CX
	JAE  done
	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1

	VPCMPEQB  Y10, Y0, Y2
	VPMOVMSKB Y2, R8
	VPCMPEQB  Y10, Y1, Y2
	VPMOVMSKB Y2, R9
	SHLQ      $32, R9
	ORQ       R9, R8
	MOVQ      R8, 0(DI)

	VPCMPEQB  Y11, Y0, Y2
	VPMOVMSKB Y2, R8
	VPCMPEQB  Y11, Y1, Y2
	VPMOVMSKB Y2, R9
	SHLQ      $32, R9
	ORQ       R9, R8
	MOVQ      R8, 8(DI)

	VPAND   Y12, Y0, Y2
	VPSRLW  $4, Y0, Y3
	VPAND   Y12, Y3, Y3
	VPSHUFB Y2, Y8, Y2
	VPSHUFB Y3, Y9, Y3
	VPAND   Y3, Y2, Y2

	VPAND   Y12, Y1, Y4
	VPSRLW  $4, Y1, Y5
	VPAND   Y12, Y5, Y5
	VPSHUFB Y4, Y8, Y4
	VPSHUFB Y5, Y9, Y5
	VPAND   Y5, Y4, Y4

	VPMOVMSKB Y2, R8
	VPMOVMSKB Y4, R9
	SHLQ      $32, R9
	ORQ       R9, R8
	MOVQ      R8, 16(DI)

	VPAND     Y13, Y2, Y2
	VPCMPEQB  Y14, Y2, Y2
	VPMOVMSKB Y2, R8
	VPAND     Y13, Y4, Y4
	VPCMPEQB  Y14, Y4, Y4
	VPMOVMSKB Y4, R9
	SHLQ      $32, R9
	ORQ       R9, R8
	NOTQ      R8
	MOVQ      R8, 24(DI)

	ADDQ $64, SI
	ADDQ $32, DI
	JMP  loop

done:
	VZEROUPPER
	RET
