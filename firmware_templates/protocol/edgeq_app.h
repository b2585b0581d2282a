/*
 * edgeq firmware: what the protocol needs from the inference runtime (edgeq's generated model, or TFLM).
 * Implemented by edgeq_app_edgeq.c / edgeq_app_tflm.cpp. Sizes and quantization come from edgeq_config.h.
 */
#ifndef EDGEQ_APP_H
#define EDGEQ_APP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int            edgeq_app_init(void);        /* 0 = ready (TFLM: AllocateTensors succeeded) */
uint8_t       *edgeq_app_input(uint32_t k);   /* input k: EDGEQ_CFG_IN<k>_BYTES bytes, written before every invoke */
const uint8_t *edgeq_app_output(uint32_t k);  /* output k: EDGEQ_CFG_OUT<k>_BYTES bytes, valid after invoke */
int            edgeq_app_invoke(void);      /* 0 = ok */
uint32_t       edgeq_app_arena_bytes(void); /* RAM the runtime uses for activations (+ scratch) */

#ifdef __cplusplus
}
#endif
#endif
