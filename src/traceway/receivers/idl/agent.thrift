# The Jaeger agent's UDP interface (jaeger-idl thrift/agent.thrift, Apache-2.0):
# each datagram is one oneway call. Only emitBatch is declared; emitZipkinBatch
# (Zipkin v1 Thrift) is not supported and such datagrams are dropped as unknown.

include "jaeger.thrift"

namespace py traceway.jaeger_agent

service Agent {
  oneway void emitBatch(1: jaeger.Batch batch)
}
