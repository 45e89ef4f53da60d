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

// func transpose8AVX(dst *float32, ldd int, src *float32, lds, blocks int)
// Transposes the 8 rows at src (row r at src + r*lds floats), blocks*8
// values of each, into dst: dst[c*ldd+r] = src[r*lds+c], a block of 8
// columns at a time transposed in registers (unpacks, shuffles and lane
// permutes).
TEXT ·transpose8AVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R11
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R9
	MOVQ blocks+32(FP), CX
	SHLQ $2, R9
	SHLQ $2, R11
	LEAQ (R9)(R9*2), R10
	LEAQ (SI)(R9*4), BX
	LEAQ (R11)(R11*2), R12
	LEAQ (DI)(R11*4), DX
	TESTQ CX, CX
	JZ   transpose8done
transpose8loop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R9*1), Y1
	VMOVUPS (SI)(R9*2), Y2
	VMOVUPS (SI)(R10*1), Y3
	VMOVUPS (BX), Y4
	VMOVUPS (BX)(R9*1), Y5
	VMOVUPS (BX)(R9*2), Y6
	VMOVUPS (BX)(R10*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y0
	VSHUFPS $0x44, Y10, Y8, Y1
	VSHUFPS $0xEE, Y10, Y8, Y2
	VSHUFPS $0x44, Y11, Y9, Y3
	VSHUFPS $0xEE, Y11, Y9, Y4
	VSHUFPS $0x44, Y14, Y12, Y5
	VSHUFPS $0xEE, Y14, Y12, Y6
	VSHUFPS $0x44, Y0, Y13, Y7
	VSHUFPS $0xEE, Y0, Y13, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x20, Y8, Y4, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y0
	VPERM2F128 $0x31, Y8, Y4, Y1
	VMOVUPS Y9, (DI)
	VMOVUPS Y10, (DI)(R11*1)
	VMOVUPS Y11, (DI)(R11*2)
	VMOVUPS Y12, (DI)(R12*1)
	VMOVUPS Y13, (DX)
	VMOVUPS Y14, (DX)(R11*1)
	VMOVUPS Y0, (DX)(R11*2)
	VMOVUPS Y1, (DX)(R12*1)
	ADDQ $32, SI
	ADDQ $32, BX
	LEAQ (DI)(R11*8), DI
	LEAQ (DX)(R11*8), DX
	DECQ CX
	JNZ  transpose8loop
transpose8done:
	VZEROUPPER
	RET

// func swapRowsOneAVX512(dst, src *float32, woff *int, shift *int32, idx *int32, kc int)
// swapRowsAVX512 for a strip whose positions, shifted by every tap's
// column shift, lie in one window of 16 floats: row p of dst (8 floats)
// is, for i = 0..7, element idx[i]+shift[p] of the 16 floats at
// src + woff[p]. Taps along a kernel row share their window (woff), so
// it is loaded once for them and VPERMPS picks each tap's values out of
// the register.
TEXT ·swapRowsOneAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ woff+16(FP), BX
	MOVQ shift+24(FP), DX
	MOVQ idx+32(FP), R8
	MOVQ kc+40(FP), CX
	VMOVDQU32 (R8), Z0
	MOVQ $-1, R9
	TESTQ CX, CX
	JZ   swaponedone
swaponeloop:
	MOVQ (BX), AX
	CMPQ AX, R9
	JEQ  swaponesame
	VMOVUPS (SI)(AX*4), Z1
	MOVQ AX, R9
swaponesame:
	VPBROADCASTD (DX), Z2
	VPADDD Z0, Z2, Z2
	VPERMPS Z1, Z2, Z3
	VMOVUPS Y3, (DI)
	ADDQ $8, BX
	ADDQ $4, DX
	ADDQ $32, DI
	DECQ CX
	JNZ  swaponeloop
swaponedone:
	VZEROUPPER
	RET
