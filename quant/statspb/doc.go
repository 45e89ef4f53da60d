// Package statspb holds the Go types generated from stats.proto, the schema
// of the stats files that sharded preprocess and calibrate runs write and
// amq merge reads (docs/design.md "Sharded statistics"). Regenerate with
// scripts/gen-proto.sh.
package statspb
