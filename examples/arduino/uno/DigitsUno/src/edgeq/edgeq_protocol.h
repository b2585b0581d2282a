/*
 * edgeq benchmark protocol, device side (generated from edgeq/bench/spec.py, protocol version 1).
 * MLPerf Tiny / EEMBC compatible command set plus edgeq's extensions; described in docs/protocol.md.
 *
 * Usage: edgeq_plat_init(); edgeq_proto_boot(); then hand every received byte to edgeq_proto_feed().
 * Byte at a time, so the same code runs behind Arduino's Serial and a bare UART.
 */
#ifndef EDGEQ_PROTOCOL_H
#define EDGEQ_PROTOCOL_H

#ifdef __cplusplus
extern "C" {
#endif

#define EDGEQ_PROTOCOL_VERSION 1
#define EDGEQ_CMD_MAX 80 /* characters per command, terminator included */

void edgeq_proto_boot(void);   /* boot banner + EEMBC boot lines, ends with m-ready */
void edgeq_proto_feed(int c);  /* one received byte; runs a command when its terminator arrives */

#ifdef __cplusplus
}
#endif
#endif
