//go:build !purego

#include "textflag.h"

// func swapRowsAVX512(dst, src *float32, offs *int, idx *int32, kc, off2 int)
// Packs a strip of 8 rows of X^T for the swapped convolution product
// (convswap.go) from two windows of 16 floats at each tap's offset, the
// first at src + offs[p], the second off2 floats further: row p of dst (8
// floats) is, for i = 0..7, element idx[i] of the 32 floats of the two
// windows (below 16: the first). VPERMT2PS picks them into place.
TEXT ·swapRowsAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ offs+16(FP), BX
	MOVQ idx+24(FP), DX
	MOVQ kc+32(FP), CX
	MOVQ off2+40(FP), R8
	LEAQ (SI)(R8*4), R8
	VMOVDQU32 (DX), Z0
	TESTQ CX, CX
	JZ   swaprowsdone
swaprowsloop:
	MOVQ (BX), AX
	VMOVUPS (SI)(AX*4), Z1
	VPERMT2PS (R8)(AX*4), Z0, Z1
	VMOVUPS Y1, (DI)
	ADDQ $8, BX
	ADDQ $32, DI
	DECQ CX
	JNZ  swaprowsloop
swaprowsdone:
	VZEROUPPER
	RET
