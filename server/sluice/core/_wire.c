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
 *
 * _wire.h              protobuf's wire format, byte buffers, the WireBatch type
 * _wire_batch.c        walk, WireBatch.assemble, WireBatch.device_counts
 * _wire_templates.c    the template table, the screen, the rewrites
 * _wire.c              the module
 */
#include "_wire.h"

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
