/*
 * edgeq bare-metal firmware, app mode (edgeq export --app classify|regress): read windows on the UART, print results.
 */
#include "edgeq_platform.h"
#include "edgeq_classify.h"

int main(void)
{
    edgeq_plat_init();
    edgeq_app_boot();
    for (;;) edgeq_app_step();
}
