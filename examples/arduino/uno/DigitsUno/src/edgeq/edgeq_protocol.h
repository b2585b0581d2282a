/*
 * edgeq benchmark protocol, device side: MLPerf Tiny / EEMBC compatible command set plus edgeq's extensions;
 * described in docs/protocol.md. Its constants come from edgeq_protocol_spec.h (rendered from edgeq/protocol_spec.py).
 *
 * Usage: edgeq_plat_init(); edgeq_proto_boot(); then hand every received byte to edgeq_proto_feed().
 * Byte at a time, so the same code runs behind Arduino's Serial, a bare UART and a host's stdin.
 */
#ifndef EDGEQ_PROTOCOL_H
#define EDGEQ_PROTOCOL_H

#include "edgeq_protocol_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

void edgeq_proto_boot(void);   /* boot banner + EEMBC boot lines, ends with m-ready */
void edgeq_proto_feed(int c);  /* one received byte; runs a command when its terminator arrives */

#ifdef __cplusplus
}
#endif
#endif
