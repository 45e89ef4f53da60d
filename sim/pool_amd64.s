//go:build !purego

#include "textflag.h"

// Max pooling's interior output rows with AVX-512 (pool_amd64.go): 16
// outputs at a time, each keeping its maximum in a register over all the
// window's taps, in maxPool's order (rows, then taps along the row). Each
// tap is MAXPS with the tap as first operand, which keeps the running
// maximum when they are equal or unordered: greater(tap, best). The first
// tap is compared with itself, which leaves it as it is. With stride 2
// the taps of 16 outputs are the even elements of 32 consecutive floats,
// gathered by one VPERMT2PS. Loads are masked to the elements a tap
// reads, so nothing past the last one is touched.

// func maxPoolRowAVX512(o, src *float32, n, ld, rows, k, stride int)
TEXT ·maxPoolRowAVX512(SB), NOSPLIT, $0-56
	MOVQ o+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ ld+24(FP), DX
	SHLQ $2, DX
	MOVQ rows+32(FP), R8
	MOVQ k+40(FP), R9
	MOVQ stride+48(FP), R10
	CMPQ R10, $2
	MOVL $-1, R10
	JEQ  s2block

s1block:
	TESTQ CX, CX
	JLE  done
	MOVQ CX, BX
	CMPQ BX, $16
	JLE  s1mask
	MOVQ $16, BX
s1mask:
	BZHIL BX, R10, AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z0
	MOVQ SI, R11
	MOVQ R8, R12
s1row:
	XORQ R13, R13
	MOVQ R9, R14
s1tap:
	VMOVUPS.Z (R11)(R13*1), K1, Z1
	VMAXPS Z0, Z1, Z0
	ADDQ $4, R13
	DECQ R14
	JNZ  s1tap
	ADDQ DX, R11
	DECQ R12
	JNZ  s1row
	VMOVUPS Z0, K1, (DI)
	ADDQ $64, DI
	ADDQ $64, SI
	SUBQ $16, CX
	JMP  s1block

s2block:
	VMOVDQU32 poolevens<>(SB), Z7
s2next:
	TESTQ CX, CX
	JLE  done
	MOVQ CX, BX
	CMPQ BX, $16
	JLE  s2mask
	MOVQ $16, BX
s2mask:
	BZHIL BX, R10, AX
	KMOVW AX, K3
	// A tap of r outputs reads elements 0..2r-2 of its 32.
	LEAQ -1(BX)(BX*1), AX
	BZHIL AX, R10, AX
	KMOVW AX, K1
	SHRL $16, AX
	KMOVW AX, K2
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z2
	VPERMT2PS Z2, Z7, Z0
	MOVQ SI, R11
	MOVQ R8, R12
s2row:
	XORQ R13, R13
	MOVQ R9, R14
s2tap:
	VMOVUPS.Z (R11)(R13*1), K1, Z1
	VMOVUPS.Z 64(R11)(R13*1), K2, Z2
	VPERMT2PS Z2, Z7, Z1
	VMAXPS Z0, Z1, Z0
	ADDQ $4, R13
	DECQ R14
	JNZ  s2tap
	ADDQ DX, R11
	DECQ R12
	JNZ  s2row
	VMOVUPS Z0, K3, (DI)
	ADDQ $64, DI
	ADDQ $128, SI
	SUBQ $16, CX
	JMP  s2next

done:
	VZEROUPPER
	RET

DATA poolevens<>+0(SB)/4, $0
DATA poolevens<>+4(SB)/4, $2
DATA poolevens<>+8(SB)/4, $4
DATA poolevens<>+12(SB)/4, $6
DATA poolevens<>+16(SB)/4, $8
DATA poolevens<>+20(SB)/4, $10
DATA poolevens<>+24(SB)/4, $12
DATA poolevens<>+28(SB)/4, $14
DATA poolevens<>+32(SB)/4, $16
DATA poolevens<>+36(SB)/4, $18
DATA poolevens<>+40(SB)/4, $20
DATA poolevens<>+44(SB)/4, $22
DATA poolevens<>+48(SB)/4, $24
DATA poolevens<>+52(SB)/4, $26
DATA poolevens<>+56(SB)/4, $28
DATA poolevens<>+60(SB)/4, $30
GLOBL poolevens<>(SB), RODATA|NOPTR, $64
