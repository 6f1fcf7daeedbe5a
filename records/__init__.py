"""Service records: a customer's equipment and services, their warranty, service period and periodic checks.

Modules: ``models`` (:class:`~records.models.ServiceRecord`), ``schedule`` (month arithmetic and the next
check), ``queries`` (the lists and the "due within N days" audiences).
"""
