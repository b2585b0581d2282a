/*
 * edgeq firmware: serve the benchmark protocol on the serial line, forever (bare-metal Cortex-M, and the host build).
 */
#include "edgeq_platform.h"
#include "edgeq_protocol.h"

int main(void)
{
    edgeq_plat_init();
    edgeq_proto_boot();
    for (;;) edgeq_proto_feed(edgeq_plat_getc(EDGEQ_FOREVER));
}
