// Package configpb holds the Go types generated from quant_config.proto,
// the schema of amq's simplified quant config (.cfg): calibration
// algorithms (IFMR, HFMG, ARQ), DMQ balancing and per-layer or per-type
// overrides, with AMCT's field names so AMCT's .cfg files load unchanged.
//
// The files are protobuf text format with proto2 semantics; package quant
// reads and writes them. Regenerate with scripts/gen-proto.sh.
package configpb
