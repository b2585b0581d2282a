/*
 * edgeq firmware: the protocol's runtime interface on top of edgeq's generated model (contracts.md section 1).
 */
#include <stdint.h>

#include "edgeq_app.h"
#include "edgeq_config.h"
#include "../model/model.h"

/* model.h and the export configuration must agree (a stale model folder fails here, not on the device) */
typedef char edgeq_check_num_inputs[(EDGEQ_NUM_INPUTS == EDGEQ_CFG_NUM_INPUTS) ? 1 : -1];
typedef char edgeq_check_num_outputs[(EDGEQ_NUM_OUTPUTS == EDGEQ_CFG_NUM_OUTPUTS) ? 1 : -1];
typedef char edgeq_check_in0_bytes[(EDGEQ_INPUT0_BYTES == EDGEQ_CFG_IN0_BYTES) ? 1 : -1];
typedef char edgeq_check_out0_bytes[(EDGEQ_OUTPUT0_BYTES == EDGEQ_CFG_OUT0_BYTES) ? 1 : -1];

int edgeq_app_init(void) { return 0; }
uint8_t *edgeq_app_input(uint32_t k) { return (uint8_t *)edgeq_input((int)k); }
const uint8_t *edgeq_app_output(uint32_t k) { return (const uint8_t *)edgeq_output((int)k); }
/* every inference starts from the initial recurrent state (SVDF / LSTM), so that its output depends on its input only
 * (the host reference resets TFLM's state likewise); a no-op for models without state */
int edgeq_app_invoke(void)
{
    edgeq_reset();
    return edgeq_invoke();
}
uint32_t edgeq_app_arena_bytes(void) { return (uint32_t)(EDGEQ_RAM_BYTES); }
