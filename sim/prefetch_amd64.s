//go:build !purego

#include "textflag.h"

// func prefetchBlock(p *float32, rows, stride, n int)
TEXT ·prefetchBlock(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ rows+8(FP), CX
	MOVQ stride+16(FP), DX
	MOVQ n+24(FP), BX
	SHLQ $2, DX
	SHLQ $2, BX
	TESTQ CX, CX
	JLE  done
	TESTQ BX, BX
	JLE  done

row:
	XORQ AX, AX

line:
	PREFETCHT1 (SI)(AX*1)
	ADDQ $64, AX
	CMPQ AX, BX
	JLT  line
	PREFETCHT1 -4(SI)(BX*1) // the last line, when p is not aligned to one
	ADDQ DX, SI
	DECQ CX
	JNZ  row

done:
	RET
