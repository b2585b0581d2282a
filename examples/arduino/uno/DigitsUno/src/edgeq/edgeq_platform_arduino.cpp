/*
 * edgeq platform layer for Arduino: uno (arduino:avr:uno). Serial at 115200 baud;
 * timer: avr-timer1 (cycles).
 */
#include <Arduino.h>

#include "edgeq_platform.h"

#include "edgeq_config.h"

#define EDGEQ_BAUD EDGEQ_CFG_BAUD /* edgeq export --baud, default from the board table */

/* Timer1 counts core cycles (prescaler 1); its overflow interrupt extends it to 32 bits. Timer0 stays with millis().
 * simavr is cycle-accurate, so these are real ATmega328P cycles even though simavr runs faster than 16 MHz. */
static volatile uint16_t t1_wraps;
ISR(TIMER1_OVF_vect) { t1_wraps++; }

static void timer_init(void)
{
    TCCR1A = 0;
    TCCR1B = _BV(CS10);
    TCNT1 = 0;
    TIFR1 = _BV(TOV1);
    TIMSK1 |= _BV(TOIE1);
}

static uint32_t cycles(void)
{
    uint8_t sreg = SREG;
    uint16_t lo, hi;
    cli();
    lo = TCNT1;
    hi = t1_wraps;
    if ((TIFR1 & _BV(TOV1)) && lo < 0x8000u) hi++; /* wrapped, interrupt not yet taken */
    SREG = sreg;
    return ((uint32_t)hi << 16) | lo;
}

extern "C" uint32_t edgeq_plat_ticks(void) { return cycles(); }
extern "C" uint32_t edgeq_plat_us(void) { return cycles() / (F_CPU / 1000000UL); }

/* Stack high-water: paint the free RAM between the static data and the stack at reset (before main), find the
 * deepest byte the stack overwrote when asked. */
extern uint8_t _end;
extern uint8_t __stack;
#define EDGEQ_PAINT 0xA5
extern "C" void edgeq_stack_paint(void) __attribute__((naked, used, section(".init1")));
extern "C" void edgeq_stack_paint(void)
{
    __asm volatile(
        "    ldi r30, lo8(_end)\n"
        "    ldi r31, hi8(_end)\n"
        "    ldi r24, 0xA5\n"
        "    ldi r25, hi8(__stack)\n"
        "1:  st Z+, r24\n"
        "    cpi r30, lo8(__stack)\n"
        "    cpc r31, r25\n"
        "    brlo 1b\n"
        "    breq 1b\n" ::);
}

extern "C" uint32_t edgeq_plat_stack_size(void) { return (uint32_t)(&__stack - &_end + 1); }
extern "C" uint32_t edgeq_plat_stack_used(void)
{
    const uint8_t *p = &_end;
    while (p <= &__stack && *p == EDGEQ_PAINT) p++;
    return (uint32_t)(&__stack - p + 1);
}

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
