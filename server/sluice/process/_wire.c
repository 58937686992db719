/* The hot path over a ReadingBatch's wire bytes: walk, screen, rewrite and assemble in C.
 *
 * walk(raw) validates a batch that uses only the plain encoding (known fields with their
 * wire types, each singular field at most once, strict UTF-8) and returns a WireBatch; any
 * other input gives None, and the caller parses it with upb instead, which decides whether
 * it is valid at all. So this module never accepts what upb would refuse.
 *
 * Each reading's *template* is its bytes without its value and time fields, plus a marker
 * when the time is set. Templates.screen() looks every template up in a table of plans
 * (made in Python, see plans.py) and proves readings fine from their value and time alone,
 * applying the plan's rewrites as it copies them into the output. Readings it cannot prove
 * fine are suspects, which the Python checks decide; WireBatch.assemble() then joins the
 * output with the suspects' verdicts.
 *
 * Every read is bounds-checked against the end of its enclosing field: the input is
 * untrusted.
 */
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

static int read_long_varint(Cursor *c, uint64_t *out) {
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

static int buffer_reserve(Buffer *b, size_t more) {
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

static int buffer_put(Buffer *b, const void *src, size_t n) {
    if (!buffer_reserve(b, n)) return 0;
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return 1;
}

static int buffer_varint(Buffer *b, uint64_t value) {
    if (!buffer_reserve(b, 10)) return 0;
    while (value > 0x7F) {
        b->data[b->len++] = (uint8_t)((value & 0x7F) | 0x80);
        value >>= 7;
    }
    b->data[b->len++] = (uint8_t)value;
    return 1;
}

static void buffer_free(Buffer *b) {
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

static void WireBatch_dealloc(WireBatch *self) {
    Py_XDECREF(self->raw);
    Py_XDECREF(self->source_id);
    Py_XDECREF(self->session_id);
    PyMem_Free(self->readings);
    buffer_free(&self->templates);
    buffer_free(&self->output);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Field numbers of a Reading and their wire types; 0 marks an unknown field. */
static const int8_t READING_WIRE[10] = {-1, LEN, VARINT, LEN, I64, LEN, LEN, LEN, LEN, LEN};

static inline int walk_tag(Cursor *c, uint32_t *number, uint32_t *wire) {
    uint64_t tag;
    if (!read_varint(c, &tag) || tag > UINT32_MAX) return 0;
    *number = (uint32_t)(tag >> 3);
    *wire = (uint32_t)(tag & 7);
    return *number != 0;
}

/* A map<string,string> entry: key (1) and value (2), each at most once. */
static int walk_tag_entry(const uint8_t *p, size_t n) {
    Cursor c = {p, p + n};
    int seen = 0;
    while (c.p < c.end) {
        uint32_t number, wire;
        const uint8_t *s;
        size_t len;
        if (!walk_tag(&c, &number, &wire) || wire != LEN || (number != 1 && number != 2)) return 0;
        if (seen & (1 << number)) return 0;
        seen |= 1 << number;
        if (!read_len(&c, &s, &len) || !valid_utf8(s, len)) return 0;
    }
    return 1;
}

/* A Location: lat (1) and lon (2), doubles, each at most once. */
static int walk_location(const uint8_t *p, size_t n) {
    Cursor c = {p, p + n};
    int seen = 0;
    while (c.p < c.end) {
        uint32_t number, wire;
        if (!walk_tag(&c, &number, &wire) || wire != I64 || (number != 1 && number != 2)) return 0;
        if (seen & (1 << number)) return 0;
        seen |= 1 << number;
        if (c.end - c.p < 8) return 0;
        c.p += 8;
    }
    return 1;
}

/* Walks one Reading, fills ``span`` and appends its template to ``templates``. */
static int walk_reading(const uint8_t *p, size_t n, ReadingSpan *span, Buffer *templates) {
    Cursor c = {p, p + n};
    uint32_t seen = 0;
    span->time = 0;
    span->value = 0.0;
    span->device_at = span->device_length = 0;
    span->tmpl_offset = (uint32_t)templates->len;
    if (!buffer_reserve(templates, n + 2)) return -1;
    while (c.p < c.end) {
        const uint8_t *field_start = c.p;
        uint32_t number, wire;
        if (!walk_tag(&c, &number, &wire) || number > 9 || READING_WIRE[number] != (int)wire)
            return 0;
        if (number != 5) {
            if (seen & (1u << number)) return 0;
            seen |= 1u << number;
        }
        if (number == 2) {
            uint64_t time;
            if (!read_varint(&c, &time)) return 0;
            span->time = (int64_t)time;
            continue;
        }
        if (number == 4) {
            if (c.end - c.p < 8) return 0;
            memcpy(&span->value, c.p, 8);
            c.p += 8;
            continue;
        }
        const uint8_t *s;
        size_t len;
        if (!read_len(&c, &s, &len)) return 0;
        if (number == 1) {
            span->device_at = (uint32_t)(s - p);
            span->device_length = (uint32_t)len;
        }
        if (number == 5) {
            if (!walk_tag_entry(s, len)) return 0;
        } else if (number == 7) {
            if (!walk_location(s, len)) return 0;
        } else if (!valid_utf8(s, len)) {
            return 0;
        }
        memcpy(templates->data + templates->len, field_start, (size_t)(c.p - field_start));
        templates->len += (size_t)(c.p - field_start);
    }
    if (span->time != 0) {
        templates->data[templates->len++] = 0x10; /* "timed": field 2 = 1 */
        templates->data[templates->len++] = 0x01;
    }
    span->tmpl_length = (uint32_t)(templates->len - span->tmpl_offset);
    return 1;
}

static PyTypeObject WireBatchType;

static PyObject *walk(PyObject *module, PyObject *raw) {
    if (!PyBytes_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "walk() takes bytes");
        return NULL;
    }
    const uint8_t *data = (const uint8_t *)PyBytes_AS_STRING(raw);
    size_t size = (size_t)PyBytes_GET_SIZE(raw);
    if (size > UINT32_MAX) Py_RETURN_NONE;
    WireBatch *batch = PyObject_New(WireBatch, &WireBatchType);
    if (batch == NULL) return NULL;
    batch->raw = Py_NewRef(raw);
    batch->source_id = batch->session_id = NULL;
    batch->seq = 0;
    batch->count = 0;
    batch->readings = NULL;
    batch->templates = (Buffer){0};
    batch->output = (Buffer){0};
    batch->screened = batch->rewritten = 0;

    /* The span array grows as readings come; the templates take at most the batch's size
     * (plus a marker per reading), reserved once here for typical batches. */
    size_t capacity = 128;
    batch->readings = PyMem_Malloc(capacity * sizeof(ReadingSpan));
    if (batch->readings == NULL || !buffer_reserve(&batch->templates, size + 64)) {
        Py_DECREF(batch);
        return PyErr_NoMemory();
    }
    Cursor c = {data, data + size};
    int seen = 0, ok = 1;
    const uint8_t *source = (const uint8_t *)"", *session = (const uint8_t *)"";
    size_t source_len = 0, session_len = 0;
    while (ok && c.p < c.end) {
        uint32_t number, wire;
        const uint8_t *s;
        size_t len;
        if (!walk_tag(&c, &number, &wire)) {
            ok = 0;
        } else if (number == 1 && wire == VARINT && !(seen & 2)) {
            seen |= 2;
            ok = read_varint(&c, &batch->seq);
        } else if (wire != LEN || !read_len(&c, &s, &len)) {
            ok = 0;
        } else if (number == 3) {
            if ((size_t)batch->count == capacity) {
                capacity *= 2;
                ReadingSpan *grown = PyMem_Realloc(batch->readings, capacity * sizeof(ReadingSpan));
                if (grown == NULL) {
                    Py_DECREF(batch);
                    return PyErr_NoMemory();
                }
                batch->readings = grown;
            }
            ReadingSpan *span = &batch->readings[batch->count];
            span->offset = (uint32_t)(s - data);
            span->length = (uint32_t)len;
            span->suspect = span->rewritten = 0;
            int walked = walk_reading(s, len, span, &batch->templates);
            if (walked < 0) {
                Py_DECREF(batch);
                return NULL;
            }
            ok = walked;
            batch->count++;
        } else if ((number == 2 || number == 4) && !(seen & (1 << number)) &&
                   valid_utf8(s, len)) {
            seen |= 1 << number;
            if (number == 2) source = s, source_len = len;
            else session = s, session_len = len;
        } else {
            ok = 0;
        }
    }
    if (!ok) {
        Py_DECREF(batch);
        Py_RETURN_NONE;
    }
    batch->source_id = PyUnicode_DecodeUTF8((const char *)source, (Py_ssize_t)source_len, NULL);
    batch->session_id =
        PyUnicode_DecodeUTF8((const char *)session, (Py_ssize_t)session_len, NULL);
    if (batch->source_id == NULL || batch->session_id == NULL) {
        Py_DECREF(batch);
        return NULL;
    }
    return (PyObject *)batch;
}

static PyObject *WireBatch_reading(WireBatch *self, PyObject *arg) {
    Py_ssize_t index = PyLong_AsSsize_t(arg);
    if (index == -1 && PyErr_Occurred()) return NULL;
    if (index < 0 || index >= self->count) {
        PyErr_SetString(PyExc_IndexError, "reading index out of range");
        return NULL;
    }
    ReadingSpan *span = &self->readings[index];
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(self->raw) + span->offset, span->length);
}

static int put_field_len(Buffer *b, uint32_t number, const uint8_t *s, size_t n) {
    return buffer_varint(b, (uint64_t)number << 3 | LEN) && buffer_varint(b, n) &&
           buffer_put(b, s, n);
}

/* assemble(edits): the batch's accepted readings as a ReadingBatch. ``edits`` maps a
 * suspect's index to its rewritten payload, or to None when it failed; a suspect without
 * an edit is kept as sent. */
static PyObject *WireBatch_assemble(WireBatch *self, PyObject *edits) {
    if (!PyDict_Check(edits)) {
        PyErr_SetString(PyExc_TypeError, "assemble() takes a dict");
        return NULL;
    }
    const uint8_t *raw = (const uint8_t *)PyBytes_AS_STRING(self->raw);
    Buffer out = {0};
    if (!buffer_reserve(&out, (size_t)PyBytes_GET_SIZE(self->raw) + self->output.len + 64))
        return NULL;
    Py_ssize_t n;
    const char *text;
    int ok = 1;
    if (self->seq) ok = buffer_varint(&out, 1 << 3 | VARINT) && buffer_varint(&out, self->seq);
    text = PyUnicode_AsUTF8AndSize(self->source_id, &n);
    if (ok && n) ok = put_field_len(&out, 2, (const uint8_t *)text, (size_t)n);
    text = PyUnicode_AsUTF8AndSize(self->session_id, &n);
    if (ok && n) ok = put_field_len(&out, 4, (const uint8_t *)text, (size_t)n);
    for (Py_ssize_t i = 0; ok && i < self->count; i++) {
        ReadingSpan *span = &self->readings[i];
        if (span->suspect || !self->screened) {
            PyObject *key = PyLong_FromSsize_t(i);
            if (key == NULL) {
                ok = 0;
                break;
            }
            PyObject *edit = PyDict_GetItemWithError(edits, key);
            Py_DECREF(key);
            if (edit == NULL && PyErr_Occurred()) {
                ok = 0;
            } else if (edit == Py_None) {
                continue;
            } else if (edit != NULL) {
                if (!PyBytes_Check(edit)) {
                    PyErr_SetString(PyExc_TypeError, "an edit is bytes or None");
                    ok = 0;
                } else {
                    ok = put_field_len(&out, 3, (const uint8_t *)PyBytes_AS_STRING(edit),
                                       (size_t)PyBytes_GET_SIZE(edit));
                }
            } else {
                ok = put_field_len(&out, 3, raw + span->offset, span->length);
            }
        } else if (span->rewritten) {
            ok = put_field_len(&out, 3, self->output.data + span->out_offset, span->out_length);
        } else {
            ok = put_field_len(&out, 3, raw + span->offset, span->length);
        }
    }
    PyObject *result = ok ? PyBytes_FromStringAndSize((const char *)out.data, (Py_ssize_t)out.len)
                          : NULL;
    buffer_free(&out);
    return result;
}

/* device_counts(skip): how many readings each device_id has, leaving out the indices in
 * ``skip`` (an iterable of ints). */
static PyObject *WireBatch_device_counts(WireBatch *self, PyObject *skip) {
    uint8_t *skipped = PyMem_Calloc((size_t)self->count + 1, 1);
    if (skipped == NULL) return PyErr_NoMemory();
    PyObject *counts = NULL, *iterator = PyObject_GetIter(skip), *item;
    if (iterator == NULL) goto done;
    while ((item = PyIter_Next(iterator)) != NULL) {
        Py_ssize_t index = PyLong_AsSsize_t(item);
        Py_DECREF(item);
        if (index == -1 && PyErr_Occurred()) goto done;
        if (index >= 0 && index < self->count) skipped[index] = 1;
    }
    if (PyErr_Occurred()) goto done;
    counts = PyDict_New();
    if (counts == NULL) goto done;
    const char *raw = PyBytes_AS_STRING(self->raw);
    for (Py_ssize_t i = 0; i < self->count; i++) {
        if (skipped[i]) continue;
        ReadingSpan *span = &self->readings[i];
        PyObject *device = PyUnicode_DecodeUTF8(raw + span->offset + span->device_at,
                                                (Py_ssize_t)span->device_length, NULL);
        if (device == NULL) goto fail;
        PyObject *seen = PyDict_GetItemWithError(counts, device);
        PyObject *count = NULL;
        if (seen == NULL && !PyErr_Occurred()) count = PyLong_FromLong(1);
        else if (seen != NULL) count = PyLong_FromLong(PyLong_AsLong(seen) + 1);
        int stored = count == NULL ? -1 : PyDict_SetItem(counts, device, count);
        Py_XDECREF(count);
        Py_DECREF(device);
        if (stored < 0) goto fail;
    }
    goto done;
fail:
    Py_CLEAR(counts);
done:
    Py_XDECREF(iterator);
    PyMem_Free(skipped);
    return counts;
}

static PyObject *WireBatch_get_seq(WireBatch *self, void *closure) {
    return PyLong_FromUnsignedLongLong(self->seq);
}
static PyObject *WireBatch_get_source_id(WireBatch *self, void *closure) {
    return Py_NewRef(self->source_id);
}
static PyObject *WireBatch_get_session_id(WireBatch *self, void *closure) {
    return Py_NewRef(self->session_id);
}
static PyObject *WireBatch_get_count(WireBatch *self, void *closure) {
    return PyLong_FromSsize_t(self->count);
}
static PyObject *WireBatch_get_raw(WireBatch *self, void *closure) {
    return Py_NewRef(self->raw);
}

static PyGetSetDef WireBatch_getset[] = {
    {"seq", (getter)WireBatch_get_seq, NULL, "The batch's seq.", NULL},
    {"source_id", (getter)WireBatch_get_source_id, NULL, "The batch's source_id.", NULL},
    {"session_id", (getter)WireBatch_get_session_id, NULL, "The batch's session_id.", NULL},
    {"count", (getter)WireBatch_get_count, NULL, "How many readings the batch has.", NULL},
    {"raw", (getter)WireBatch_get_raw, NULL, "The bytes walked.", NULL},
    {NULL},
};

static PyMethodDef WireBatch_methods[] = {
    {"reading", (PyCFunction)WireBatch_reading, METH_O, "The wire bytes of reading i."},
    {"device_counts", (PyCFunction)WireBatch_device_counts, METH_O,
     "How many readings each device_id has, leaving out the indices given."},
    {"assemble", (PyCFunction)WireBatch_assemble, METH_O,
     "The accepted readings as a ReadingBatch, given the suspects' edits."},
    {NULL},
};

static PyTypeObject WireBatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sluice.process._wire.WireBatch",
    .tp_basicsize = sizeof(WireBatch),
    .tp_dealloc = (destructor)WireBatch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A ReadingBatch's wire bytes, walked and validated once.",
    .tp_methods = WireBatch_methods,
    .tp_getset = WireBatch_getset,
};

/* ------------------------------------------------------------------------------------- */
/* Templates                                                                              */

typedef struct {
    int usable;            /* 0: readings of this template are always suspects */
    double low, high;
    int has_formula;
    double pre, num, den, post;
    uint16_t drop;         /* bit n: leave field n out of the output */
    int stamp;             /* write the receipt time */
    int rewrites;          /* any of the above: the output differs from the input */
    uint8_t *suffix;       /* encoded fields to append */
    size_t suffix_len;
} Plan;

/* A template and its plan in one block, so that a lookup touches one allocation. */
typedef struct {
    Plan plan;
    uint8_t data[];        /* the template's bytes, then the plan's suffix */
} Stored;

/* Small, so that the slots of the templates in use stay in cache. */
typedef struct {
    Py_hash_t hash;
    Stored *stored;        /* NULL: empty slot */
    uint32_t length;
} Entry;

typedef struct {
    PyObject_HEAD
    Entry *slots;
    size_t mask;           /* slots - 1; the table doubles up to max_slots */
    size_t used, limit, max_slots;
} Templates;

static Py_hash_t hash_bytes(const uint8_t *s, size_t n) {
#if PY_VERSION_HEX >= 0x030E0000
    return Py_HashBuffer(s, (Py_ssize_t)n);
#else
    return _Py_HashBytes(s, (Py_ssize_t)n);
#endif
}

static void templates_clear(Templates *self) {
    for (size_t i = 0; i <= self->mask; i++) {
        Entry *e = &self->slots[i];
        if (e->stored != NULL) {
            PyMem_Free(e->stored);
            e->stored = NULL;
        }
    }
    self->used = 0;
}

static void Templates_dealloc(Templates *self) {
    if (self->slots != NULL) {
        templates_clear(self);
        PyMem_Free(self->slots);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Templates_init(Templates *self, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"limit", NULL};
    Py_ssize_t limit;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n", names, &limit)) return -1;
    if (limit < 1 || limit > (1 << 24)) {
        PyErr_SetString(PyExc_ValueError, "limit must be between 1 and 2**24");
        return -1;
    }
    size_t max_slots = 2;
    while (max_slots < (size_t)limit * 2) max_slots *= 2;
    size_t slots = max_slots < 256 ? max_slots : 256;
    if (self->slots != NULL) {
        templates_clear(self);
        PyMem_Free(self->slots);
    }
    self->slots = PyMem_Calloc(slots, sizeof(Entry));
    if (self->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->mask = slots - 1;
    self->used = 0;
    self->limit = (size_t)limit;
    self->max_slots = max_slots;
    return 0;
}

static Entry *templates_find(Templates *self, const uint8_t *s, size_t n, Py_hash_t hash) {
    for (size_t i = (size_t)hash & self->mask;; i = (i + 1) & self->mask) {
        Entry *e = &self->slots[i];
        if (e->stored == NULL) return e;
        if (e->hash == hash && e->length == n && memcmp(e->stored->data, s, n) == 0) return e;
    }
}

/* Doubles the table, when it is half full and may grow. */
static int templates_grow(Templates *self) {
    size_t slots = self->mask + 1;
    if ((self->used + 1) * 2 <= slots || slots >= self->max_slots) return 1;
    Entry *old = self->slots;
    Entry *grown = PyMem_Calloc(slots * 2, sizeof(Entry));
    if (grown == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    self->slots = grown;
    self->mask = slots * 2 - 1;
    for (size_t i = 0; i < slots; i++) {
        if (old[i].stored == NULL) continue;
        size_t j = (size_t)old[i].hash & self->mask;
        while (grown[j].stored != NULL) j = (j + 1) & self->mask;
        grown[j] = old[i];
    }
    PyMem_Free(old);
    return 1;
}

/* add(template, plan): plan is None (suspect every reading), or
 * (low, high, formula | None, drop, suffix, stamp). */
static PyObject *Templates_add(Templates *self, PyObject *args) {
    Py_buffer template;
    PyObject *spec;
    if (!PyArg_ParseTuple(args, "y*O", &template, &spec)) return NULL;
    Plan plan = {0};
    Py_buffer suffix = {0};
    int ok = 1;
    if (self->slots == NULL) {
        PyBuffer_Release(&template);
        PyErr_SetString(PyExc_RuntimeError, "Templates.__init__ was not called");
        return NULL;
    }
    if (spec != Py_None && !PyTuple_Check(spec)) {
        PyBuffer_Release(&template);
        PyErr_SetString(PyExc_TypeError, "a plan is a tuple or None");
        return NULL;
    }
    if (spec != Py_None) {
        PyObject *formula;
        int drop;
        ok = PyArg_ParseTuple(spec, "ddOiy*p", &plan.low, &plan.high, &formula, &drop, &suffix,
                              &plan.stamp);
        if (ok && formula != Py_None && !PyTuple_Check(formula)) {
            PyErr_SetString(PyExc_TypeError, "a formula is a tuple of 4 floats or None");
            ok = 0;
        } else if (ok && formula != Py_None) {
            plan.has_formula = 1;
            ok = PyArg_ParseTuple(formula, "dddd", &plan.pre, &plan.num, &plan.den, &plan.post);
        }
        plan.usable = 1;
        plan.drop = (uint16_t)drop;
        plan.rewrites = drop || suffix.len || plan.has_formula || plan.stamp;
    }
    const uint8_t *s = template.buf;
    size_t n = (size_t)template.len;
    Stored *stored = NULL;
    if (ok) {
        stored = PyMem_Malloc(sizeof(Stored) + n + (size_t)suffix.len);
        if (stored == NULL) {
            PyErr_NoMemory();
            ok = 0;
        } else {
            memcpy(stored->data, s, n);
            if (suffix.len) memcpy(stored->data + n, suffix.buf, (size_t)suffix.len);
            plan.suffix = stored->data + n;
            plan.suffix_len = (size_t)suffix.len;
            stored->plan = plan;
        }
    }
    if (suffix.obj != NULL) PyBuffer_Release(&suffix);
    if (ok && self->used >= self->limit) templates_clear(self);
    if (ok) ok = templates_grow(self);
    if (ok) {
        Py_hash_t hash = hash_bytes(s, n);
        Entry *e = templates_find(self, s, n, hash);
        if (e->stored != NULL) {
            PyMem_Free(e->stored);
        } else {
            e->length = (uint32_t)n;
            e->hash = hash;
            self->used++;
        }
        e->stored = stored;
    }
    PyBuffer_Release(&template);
    if (!ok) {
        PyMem_Free(stored);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *Templates_clear(Templates *self, PyObject *unused) {
    if (self->slots != NULL) templates_clear(self);
    Py_RETURN_NONE;
}

static Py_ssize_t Templates_len(Templates *self) { return (Py_ssize_t)self->used; }

/* Appends a reading's payload with ``plan``'s rewrites to ``out``. */
static int rewrite(const uint8_t *p, size_t n, const Plan *plan, double value, int64_t time,
                   Buffer *out) {
    if (!plan->rewrites) return buffer_put(out, p, n);
    Cursor c = {p, p + n};
    while (c.p < c.end) {
        const uint8_t *start = c.p;
        uint32_t number = 0, wire = 0;
        const uint8_t *s;
        size_t len;
        uint64_t ignored;
        if (!walk_tag(&c, &number, &wire)) return 0; /* walked before: cannot happen */
        if (wire == VARINT) read_varint(&c, &ignored);
        else if (wire == I64) c.p += 8;
        else read_len(&c, &s, &len);
        if (!(plan->drop & (1u << number)) && !buffer_put(out, start, (size_t)(c.p - start)))
            return 0;
    }
    if (plan->suffix_len && !buffer_put(out, plan->suffix, plan->suffix_len)) return 0;
    if (plan->has_formula) {
        if (!buffer_reserve(out, 9)) return 0;
        out->data[out->len++] = 4 << 3 | I64;
        memcpy(out->data + out->len, &value, 8);
        out->len += 8;
    }
    if (plan->stamp) {
        if (!buffer_varint(out, 2 << 3 | VARINT) || !buffer_varint(out, (uint64_t)time)) return 0;
    }
    return 1;
}

/* screen(batch, lowest, highest, now) -> (suspects, unknown templates). */
static PyObject *Templates_screen(Templates *self, PyObject *args) {
    WireBatch *batch;
    long long lowest, highest, now;
    if (!PyArg_ParseTuple(args, "O!LLL", &WireBatchType, &batch, &lowest, &highest, &now))
        return NULL;
    if (self->slots == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Templates.__init__ was not called");
        return NULL;
    }
    PyObject *suspects = PyList_New(0), *unknown = PyList_New(0);
    if (suspects == NULL || unknown == NULL) goto fail;
    const uint8_t *raw = (const uint8_t *)PyBytes_AS_STRING(batch->raw);
    Buffer *out = &batch->output;
    out->len = 0;
    batch->rewritten = 0;
    for (Py_ssize_t i = 0; i < batch->count; i++) {
        ReadingSpan *span = &batch->readings[i];
        const uint8_t *tmpl = batch->templates.data + span->tmpl_offset;
        Entry *e = templates_find(self, tmpl, span->tmpl_length,
                                  hash_bytes(tmpl, span->tmpl_length));
        int fine = 0;
        double value = span->value;
        int64_t time = span->time;
        if (e->stored == NULL) {
            PyObject *bytes = PyBytes_FromStringAndSize((const char *)tmpl, span->tmpl_length);
            if (bytes == NULL || PyList_Append(unknown, bytes) < 0) {
                Py_XDECREF(bytes);
                goto fail;
            }
            Py_DECREF(bytes);
        } else if (e->stored->plan.usable) {
            const Plan *plan = &e->stored->plan;
            if (plan->has_formula) value = (value + plan->pre) * plan->num / plan->den + plan->post;
            if (plan->stamp) time = now;
            /* value - value == 0 is false for NaN and the infinities, as in checker.py */
            fine = plan->low <= value && value <= plan->high && value - value == 0.0 &&
                   lowest <= time && time <= highest;
            span->rewritten = 0;
            if (fine && plan->rewrites) {
                span->out_offset = (uint32_t)out->len;
                if (!rewrite(raw + span->offset, span->length, plan, value, time, out)) goto fail;
                span->out_length = (uint32_t)(out->len - span->out_offset);
                span->rewritten = 1;
                batch->rewritten = 1;
            }
        }
        span->suspect = !fine;
        if (!fine) {
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL || PyList_Append(suspects, index) < 0) {
                Py_XDECREF(index);
                goto fail;
            }
            Py_DECREF(index);
        }
    }
    batch->screened = 1;
    PyObject *result = PyTuple_Pack(3, suspects, unknown, batch->rewritten ? Py_True : Py_False);
    Py_DECREF(suspects);
    Py_DECREF(unknown);
    return result;
fail:
    Py_XDECREF(suspects);
    Py_XDECREF(unknown);
    return NULL;
}

static PyMethodDef Templates_methods[] = {
    {"add", (PyCFunction)Templates_add, METH_VARARGS, "Remember a template's plan."},
    {"clear", (PyCFunction)Templates_clear, METH_NOARGS, "Forget every template."},
    {"screen", (PyCFunction)Templates_screen, METH_VARARGS,
     "Screen a WireBatch: (suspects, unknown templates, rewritten)."},
    {NULL},
};

static PySequenceMethods Templates_as_sequence = {.sq_length = (lenfunc)Templates_len};

static PyTypeObject TemplatesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sluice.process._wire.Templates",
    .tp_basicsize = sizeof(Templates),
    .tp_dealloc = (destructor)Templates_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Reading templates and their plans; starts over when it holds ``limit``.",
    .tp_methods = Templates_methods,
    .tp_as_sequence = &Templates_as_sequence,
    .tp_init = (initproc)Templates_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef module_methods[] = {
    {"walk", (PyCFunction)walk, METH_O,
     "walk(raw) -> WireBatch | None: None unless raw is a plainly encoded ReadingBatch."},
    {NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sluice.process._wire",
    "A ReadingBatch's wire bytes, walked, screened and re-assembled in C.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__wire(void) {
    if (PyType_Ready(&WireBatchType) < 0 || PyType_Ready(&TemplatesType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "WireBatch", (PyObject *)&WireBatchType) < 0 ||
        PyModule_AddObjectRef(m, "Templates", (PyObject *)&TemplatesType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
