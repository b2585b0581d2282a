/*
 * edgeq platform layer for Arduino: nano33ble (arduino:mbed_nano:nano33ble). Serial at 115200 baud;
 * timer: dwt (cycles).
 */
#include <Arduino.h>

#include "edgeq_platform.h"

#include "edgeq_config.h"

#define EDGEQ_BAUD EDGEQ_CFG_BAUD /* edgeq export --baud, default from the board table */

/* The DWT cycle counter (Cortex-M3/M4/M7/M33/M55): core cycles. */
#define EDGEQ_DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define EDGEQ_DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define EDGEQ_DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define EDGEQ_DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

static void timer_init(void)
{
    EDGEQ_DEMCR |= 1u << 24; /* TRCENA */
    EDGEQ_DWT_LAR = 0xC5ACCE55u; /* unlock (Cortex-M7) */
    EDGEQ_DWT_CYCCNT = 0;
    EDGEQ_DWT_CTRL |= 1u;
}

extern "C" uint32_t edgeq_plat_ticks(void) { return EDGEQ_DWT_CYCCNT; }
extern "C" uint32_t edgeq_plat_us(void) { return (uint32_t)micros(); }
extern "C" uint32_t edgeq_plat_stack_size(void) { return EDGEQ_UNKNOWN; }
extern "C" uint32_t edgeq_plat_stack_used(void) { return EDGEQ_UNKNOWN; }

extern "C" void edgeq_plat_init(void)
{
    Serial.begin(EDGEQ_BAUD);
    /* boards with native USB: give the host a moment to open the port so the boot banner is not lost */
    unsigned long t0 = millis();
    while (!Serial && millis() - t0 < 3000UL) {
    }
    timer_init();
}

extern "C" void edgeq_plat_putc(char c) { Serial.write((uint8_t)c); }
extern "C" void edgeq_plat_flush(void) { Serial.flush(); }

extern "C" int edgeq_plat_getc(uint32_t timeout_ms)
{
    unsigned long t0 = millis();
    while (!Serial.available()) {
        if (timeout_ms != EDGEQ_FOREVER && (uint32_t)(millis() - t0) >= timeout_ms) return -1;
    }
    return Serial.read();
}
