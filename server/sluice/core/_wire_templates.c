/* Templates: reading templates and their plans in a hash table, and the screen that proves
 * readings fine from their value and time and writes their plans' rewrites; see _wire.c. */
#include "_wire.h"

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

PyTypeObject TemplatesType = {
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
