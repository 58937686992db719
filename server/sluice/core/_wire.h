/* Shared by the _wire extension's files: reading protobuf's wire format, byte buffers, and
 * the WireBatch type that the walk makes and the screen fills in. See _wire.c. */
#ifndef SLUICE_WIRE_H
#define SLUICE_WIRE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "_wire assumes a little-endian host (protobuf fixed64 is little-endian)"
#endif

enum { VARINT = 0, I64 = 1, LEN = 2 };

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} Cursor;

static inline int read_long_varint(Cursor *c, uint64_t *out) {
    uint64_t value = 0;
    for (int shift = 0; shift < 64 && c->p < c->end; shift += 7) {
        uint8_t byte = *c->p++;
        if (shift == 63 && byte > 1) return 0;
        value |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            *out = value;
            return 1;
        }
    }
    return 0;
}

/* Tags and lengths are one byte nearly always: that case is inlined. */
static inline int read_varint(Cursor *c, uint64_t *out) {
    if (c->p < c->end && !(*c->p & 0x80)) {
        *out = *c->p++;
        return 1;
    }
    return read_long_varint(c, out);
}

static inline int read_len(Cursor *c, const uint8_t **start, size_t *len) {
    uint64_t n;
    if (!read_varint(c, &n) || n > (uint64_t)(c->end - c->p)) return 0;
    *start = c->p;
    *len = (size_t)n;
    c->p += n;
    return 1;
}

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF. */
static inline int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        while (i + 8 <= n) {
            uint64_t chunk;
            memcpy(&chunk, s + i, 8);
            if (chunk & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= n) break;
        uint8_t b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) need = 1;
        else if (b == 0xE0) need = 2, lo = 0xA0;
        else if (b >= 0xE1 && b <= 0xEC) need = 2;
        else if (b == 0xED) need = 2, hi = 0x9F;
        else if (b >= 0xEE && b <= 0xEF) need = 2;
        else if (b == 0xF0) need = 3, lo = 0x90;
        else if (b >= 0xF1 && b <= 0xF3) need = 3;
        else if (b == 0xF4) need = 3, hi = 0x8F;
        else return 0;
        if (i + need >= n) return 0;
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        i += need + 1;
    }
    return 1;
}

/* A growable byte buffer. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} Buffer;

static inline int buffer_reserve(Buffer *b, size_t more) {
    if (b->len + more <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) cap *= 2;
    uint8_t *data = PyMem_Realloc(b->data, cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    b->data = data;
    b->cap = cap;
    return 1;
}

static inline int buffer_put(Buffer *b, const void *src, size_t n) {
    if (!buffer_reserve(b, n)) return 0;
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return 1;
}

static inline int buffer_varint(Buffer *b, uint64_t value) {
    if (!buffer_reserve(b, 10)) return 0;
    while (value > 0x7F) {
        b->data[b->len++] = (uint8_t)((value & 0x7F) | 0x80);
        value >>= 7;
    }
    b->data[b->len++] = (uint8_t)value;
    return 1;
}

static inline void buffer_free(Buffer *b) {
    PyMem_Free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}


/* ------------------------------------------------------------------------------------- */
/* WireBatch                                                                              */

typedef struct {
    uint32_t offset, length;       /* the reading's payload in raw */
    uint32_t tmpl_offset, tmpl_length; /* its template, in the batch's template buffer */
    uint32_t out_offset, out_length;   /* its output payload, once screened */
    int64_t time;
    double value;
    uint32_t device_at, device_length; /* its device_id, from the payload's start */
    uint8_t suspect;
    uint8_t rewritten;
} ReadingSpan;

typedef struct {
    PyObject_HEAD
    PyObject *raw;
    PyObject *source_id;
    PyObject *session_id;
    uint64_t seq;
    Py_ssize_t count;
    ReadingSpan *readings;
    Buffer templates;
    Buffer output;   /* screened payloads of the readings that are not suspects */
    int screened;
    int rewritten;   /* any reading rewritten by screen() */
} WireBatch;

/* Field numbers of a Reading and their wire types; 0 marks an unknown field. */
static const int8_t READING_WIRE[10] = {-1, LEN, VARINT, LEN, I64, LEN, LEN, LEN, LEN, LEN};

static inline int walk_tag(Cursor *c, uint32_t *number, uint32_t *wire) {
    uint64_t tag;
    if (!read_varint(c, &tag) || tag > UINT32_MAX) return 0;
    *number = (uint32_t)(tag >> 3);
    *wire = (uint32_t)(tag & 7);
    return *number != 0;
}


extern PyTypeObject WireBatchType;
extern PyTypeObject TemplatesType;

/* walk(raw) -> WireBatch | None (_wire_batch.c). */
PyObject *walk(PyObject *module, PyObject *raw);

#endif
