"""ReqIF import and export: safety requirements exchanged with DOORS, Polarion, Codebeamer, ProR.

ReqIF (OMG Requirements Interchange Format 1.0/1.2, XML namespace
``http://www.omg.org/spec/ReqIF/20110401/reqif.xsd``) describes a requirements document as:

* ``THE-HEADER`` / ``REQ-IF-HEADER``: title, creation time, the exporting tool
  (``REQ-IF-TOOL-ID``) and the tool the data came from (``SOURCE-TOOL-ID``).
* ``DATATYPES``: datatype definitions (STRING, XHTML, INTEGER, REAL, BOOLEAN, DATE, and
  ENUMERATION with its ``ENUM-VALUE`` literals).
* ``SPEC-TYPES``: ``SPEC-OBJECT-TYPE``, ``SPEC-RELATION-TYPE``, ``SPECIFICATION-TYPE`` and
  ``RELATION-GROUP-TYPE``. Each type owns *attribute definitions* (``ATTRIBUTE-DEFINITION-*``)
  whose ``LONG-NAME`` is the human name of a column ("ReqIF.Text", "Object Heading", "ASIL").
* ``SPEC-OBJECTS``: the requirements. A ``SPEC-OBJECT`` points at its type and carries
  *attribute values* (``ATTRIBUTE-VALUE-*``), each pointing at its attribute definition.
* ``SPEC-RELATIONS``: typed links (``SOURCE`` -> ``TARGET``) between spec objects.
* ``SPECIFICATIONS``: documents; a tree of ``SPEC-HIERARCHY`` nodes, each referencing one spec
  object, gives the chapter structure.
* ``SPEC-RELATION-GROUPS`` and ``TOOL-EXTENSIONS``: grouping and tool-private data.

The package turns that into small neutral dataclasses and back; it does not import Django
(:mod:`compliance.interchange` maps these structures onto models). Its modules, in the order a
document passes through them:

* :mod:`~compliance.reqif.document`: :class:`ReqIFDocument`, :class:`SpecObject`,
  :class:`SpecRelation`, :class:`Specification`, :class:`Hierarchy`, and :class:`ReqIFError`,
  raised for every failure to read or write, with a message meant for a user.
* :mod:`~compliance.reqif.archive`: ``.reqifz`` archives, read defensively
  (:func:`read_reqif_archive`, :func:`parse_reqif_archive`).
* :mod:`~compliance.reqif.prolog`: the safety checks before parsing (no DOCTYPE, no ENTITY, a
  supported encoding, a ``REQ-IF`` root).
* :mod:`~compliance.reqif.stream`: streaming parse into compact raw records.
* :mod:`~compliance.reqif.reader`: :func:`parse_reqif`, resolving the records.
* :mod:`~compliance.reqif.names`: which attribute names carry the title, text and foreign id.
* :mod:`~compliance.reqif.profiles`: each tool's dialect (headings, kinds, statuses, ids),
  detected from the header.
* :mod:`~compliance.reqif.xhtml`: :func:`sanitize_xhtml`, the rich-text subset kept.
* :mod:`~compliance.reqif.writer`: :func:`write_reqif`, :func:`write_reqif_document`, and
  :func:`~compliance.reqif.writer.write_reqif_raw`, which writes a document as it was read
  (every object's type and values, the definitions and tool extensions as written).

Nothing read is thrown away: besides the derived fields, each object, relation and
specification keeps its type reference, XML attributes and values as written (``raw``; XHTML
as the ``ATTRIBUTE-VALUE-XHTML`` element, embedded objects and link targets included), and
the document its header and definition sections.

      suffixed key and reported).

Title, text and identifier mapping
    The standard attribute names of the prostep ivip ReqIF Implementation Guide and the tools'
    own names are recognised case-insensitively (first match in each list wins):

    * chapter title: ``ReqIF.ChapterName``, ``Object Heading`` (DOORS), ``Heading``,
      ``Chapter Name``;
    * title: ``ReqIF.Name``, ``Title``, ``Name``, ``Object Short Text`` (DOORS),
      ``Short Text``, ``Summary``;
    * text: ``ReqIF.Text``, ``Object Text`` (DOORS), ``Text``, ``Description`` (ProR, and
      tools' own field names), ``ReqIF.Description``;
    * foreign id: ``ReqIF.ForeignID``, ``Absolute Number`` (DOORS), ``ID`` (ProR),
      ``Identifier``, ``Object Identifier``.

    The DOORS 9 and Polarion sample exports use the standard names (DOORS maps Object Heading
    to ``ReqIF.ChapterName``, Object Text to ``ReqIF.Text``, Absolute Number to
    ``ReqIF.ForeignID``; Polarion puts the work item title in ``ReqIF.ChapterName``).

    ProR has no standard names: its "Description" column is a heading for section and use-case
    types and body text for requirements. ProR marks heading datatypes in its tool extension
    (``headline:HeadlineConfiguration configuration:datatype=...``); an attribute whose
    datatype is declared a headline there counts as a chapter title, not as text.

    ``title`` is the chapter title when there is one, otherwise the title attribute.

Heading rule
    ``is_heading`` is true when the object has a non-empty chapter title (as above) and no
    non-empty text: it only names a section (a DOORS object with an Object Heading and no
    Object Text, a ``ReqIF.ChapterName`` without ``ReqIF.Text``, a ProR section headline).
    An object with only a ``ReqIF.Name`` and no text is *not* a heading. It is a heading too
    when a ``Type``-like attribute (an enumeration or a string) says Heading, or its object
    type is called Heading (or a value the profile names, such as Jama's Folder). The
    Simulink profile reads ``ReqIF.ChapterName`` as a title, since Simulink exports its
    Summary there.
"""
