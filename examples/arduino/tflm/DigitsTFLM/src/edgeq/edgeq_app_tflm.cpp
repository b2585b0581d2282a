/*
 * edgeq firmware: the protocol's runtime interface on TensorFlow Lite Micro (the Arduino_TensorFlowLite library).
 *
 * Op resolver: exactly the 4 op(s) the model's operators execute, with the int8-only kernel registrations (no float code paths linked).
 * Tensor arena: 3232 bytes, the smallest arena with which the TFLM reference interpreter could
 * AllocateTensors() and Invoke() this model (bisection over AllocateTensors + Invoke with the tflite-micro reference interpreter, each probe in a child process, measured on a 64-bit host: pointers are
 * smaller on a 32-bit MCU, so this is enough there; arena allocation total after AllocateTensors was 3024 bytes).
 */
#include <TensorFlowLite.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "edgeq_app.h"
#include "edgeq_config.h"
#include "edgeq_model_data.h"

namespace {
constexpr int kEdgeqArenaBytes = 3232;
alignas(16) uint8_t edgeq_arena[kEdgeqArenaBytes];
tflite::MicroInterpreter *edgeq_interpreter = nullptr;
}  // namespace

extern "C" int edgeq_app_init(void)
{
    const tflite::Model *model = tflite::GetModel(g_edgeq_model);
    if (model->version() != TFLITE_SCHEMA_VERSION) return 1;
    static tflite::MicroMutableOpResolver<4> resolver;
    if (resolver.AddConv2D(tflite::Register_CONV_2D_INT8()) != kTfLiteOk) return 2; /* CONV_2D */
    if (resolver.AddMaxPool2D(tflite::Register_MAX_POOL_2D_INT8()) != kTfLiteOk) return 2; /* MAX_POOL_2D */
    if (resolver.AddReshape() != kTfLiteOk) return 2; /* RESHAPE */
    if (resolver.AddFullyConnected(tflite::Register_FULLY_CONNECTED_INT8()) != kTfLiteOk) return 2; /* FULLY_CONNECTED */
    static tflite::MicroInterpreter interpreter(model, resolver, edgeq_arena, kEdgeqArenaBytes);
    if (interpreter.AllocateTensors() != kTfLiteOk) return 3;
    if (interpreter.inputs_size() != EDGEQ_CFG_NUM_INPUTS || interpreter.outputs_size() != EDGEQ_CFG_NUM_OUTPUTS) return 4;
    if (interpreter.input(0)->bytes != EDGEQ_CFG_IN0_BYTES) return 4;
    if (interpreter.output(0)->bytes != EDGEQ_CFG_OUT0_BYTES) return 4;
    edgeq_interpreter = &interpreter;
    return 0;
}

extern "C" uint8_t *edgeq_app_input(uint32_t k) { return edgeq_interpreter->input(k)->data.uint8; }
extern "C" const uint8_t *edgeq_app_output(uint32_t k) { return edgeq_interpreter->output(k)->data.uint8; }
/* every inference starts from the initial recurrent state (variable tensors), as the host reference does */
extern "C" int edgeq_app_invoke(void)
{
    if (edgeq_interpreter->Reset() != kTfLiteOk) {
        return 1;
    }
    return edgeq_interpreter->Invoke() == kTfLiteOk ? 0 : 1;
}
extern "C" uint32_t edgeq_app_arena_bytes(void) { return (uint32_t)kEdgeqArenaBytes; }
