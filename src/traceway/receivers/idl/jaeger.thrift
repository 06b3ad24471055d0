# Jaeger's span model, as its clients send it (jaeger-idl thrift/jaeger.thrift,
# Apache-2.0), written down for traceway's decoder. Only what traceway reads is
# declared: Thrift skips fields it does not know, so newer clients still decode.

namespace py traceway.jaeger

# The type of a tag's value; the value is in the matching v* field.
enum TagType { STRING, DOUBLE, BOOL, LONG, BINARY }

struct Tag {
  1: required string  key
  2: required TagType vType
  3: optional string  vStr
  4: optional double  vDouble
  5: optional bool    vBool
  6: optional i64     vLong
  7: optional binary  vBinary
}

# A timed event with typed fields; the field "event" names it.
struct Log {
  1: required i64       timestamp  # microseconds since the epoch
  2: required list<Tag> fields
}

enum SpanRefType { CHILD_OF, FOLLOWS_FROM }

struct SpanRef {
  1: required SpanRefType refType
  2: required i64         traceIdLow
  3: required i64         traceIdHigh
  4: required i64         spanId
}

struct Span {
  1:  required i64           traceIdLow    # least significant 64 bits of the trace id
  2:  required i64           traceIdHigh   # most significant 64 bits; 0 for 64-bit trace ids
  3:  required i64           spanId
  4:  required i64           parentSpanId  # 0 for a root span
  5:  required string        operationName
  6:  optional list<SpanRef> references
  7:  required i32           flags         # 1 = sampled, 2 = debug
  8:  required i64           startTime     # microseconds since the epoch
  9:  required i64           duration      # microseconds
  10: optional list<Tag>     tags
  11: optional list<Log>     logs
}

# The traced service and its tags (hostname, ip, client version, ...).
struct Process {
  1: required string    serviceName
  2: optional list<Tag> tags
}

# What a client sends: POST /api/traces takes one Batch as the whole body.
struct Batch {
  1: required Process    process
  2: required list<Span> spans
}
