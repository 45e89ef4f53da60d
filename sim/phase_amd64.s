//go:build !purego

#include "textflag.h"

// func deinterleaveAVX512(even, odd, src *float32, n int)
// Writes src[2i] to even[i] and src[2i+1] to odd[i] for i < n: two loads
// of 16 values and two two-table permutes (VPERMT2PS) give 16 even and 16
// odd values; the last n%16 with masked loads and stores, which neither
// read nor write past the ends.
TEXT ·deinterleaveAVX512(SB), NOSPLIT, $0-32
	MOVQ even+0(FP), DI
	MOVQ odd+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ n+24(FP), CX
	VMOVDQU32 evenIdx<>(SB), Z4
	VMOVDQU32 oddIdx<>(SB), Z5
	MOVQ CX, BX
	ANDQ $15, BX
	SHRQ $4, CX
	JZ   deinttail
deintloop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVAPS Z0, Z2
	VMOVAPS Z0, Z3
	VPERMT2PS Z1, Z4, Z2
	VPERMT2PS Z1, Z5, Z3
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, (DX)
	ADDQ $128, SI
	ADDQ $64, DI
	ADDQ $64, DX
	DECQ CX
	JNZ  deintloop
deinttail:
	TESTQ BX, BX
	JZ   deintdone
	MOVQ BX, CX
	SHLQ $1, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	SHRL $16, AX
	KMOVW AX, K2
	MOVQ BX, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K3
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VMOVAPS Z0, Z2
	VMOVAPS Z0, Z3
	VPERMT2PS Z1, Z4, Z2
	VPERMT2PS Z1, Z5, Z3
	VMOVUPS Z2, K3, (DI)
	VMOVUPS Z3, K3, (DX)
deintdone:
	VZEROUPPER
	RET

DATA evenIdx<>+0(SB)/4, $0
DATA evenIdx<>+4(SB)/4, $2
DATA evenIdx<>+8(SB)/4, $4
DATA evenIdx<>+12(SB)/4, $6
DATA evenIdx<>+16(SB)/4, $8
DATA evenIdx<>+20(SB)/4, $10
DATA evenIdx<>+24(SB)/4, $12
DATA evenIdx<>+28(SB)/4, $14
DATA evenIdx<>+32(SB)/4, $16
DATA evenIdx<>+36(SB)/4, $18
DATA evenIdx<>+40(SB)/4, $20
DATA evenIdx<>+44(SB)/4, $22
DATA evenIdx<>+48(SB)/4, $24
DATA evenIdx<>+52(SB)/4, $26
DATA evenIdx<>+56(SB)/4, $28
DATA evenIdx<>+60(SB)/4, $30
GLOBL evenIdx<>(SB), RODATA|NOPTR, $64

DATA oddIdx<>+0(SB)/4, $1
DATA oddIdx<>+4(SB)/4, $3
DATA oddIdx<>+8(SB)/4, $5
DATA oddIdx<>+12(SB)/4, $7
DATA oddIdx<>+16(SB)/4, $9
DATA oddIdx<>+20(SB)/4, $11
DATA oddIdx<>+24(SB)/4, $13
DATA oddIdx<>+28(SB)/4, $15
DATA oddIdx<>+32(SB)/4, $17
DATA oddIdx<>+36(SB)/4, $19
DATA oddIdx<>+40(SB)/4, $21
DATA oddIdx<>+44(SB)/4, $23
DATA oddIdx<>+48(SB)/4, $25
DATA oddIdx<>+52(SB)/4, $27
DATA oddIdx<>+56(SB)/4, $29
DATA oddIdx<>+60(SB)/4, $31
GLOBL oddIdx<>(SB), RODATA|NOPTR, $64
