-- paper-pdr2: the galaxy sample of Storey-Fisher et al. (HSC PDR2 wide).
--
-- Purpose: primary, deblended-leaf objects with clean photometry and at least three
-- exposures in every band, in the magnitude slice 20.0 <= i_cmodel_mag < 20.5 (942,782
-- objects in PDR2 wide). Same cuts as the paper's CAS query: an object whose flag is
-- missing (NULL) is left out, as in CAS.
-- Parameters: none.
-- Output columns: object_id (bigint), one row per object.
SELECT object_id
FROM hsc_object
WHERE isprimary
  AND nchild = 0
  -- at least 3 input exposures at the centre in every band
  AND g_inputcount_value >= 3
  AND r_inputcount_value >= 3
  AND i_inputcount_value >= 3
  AND z_inputcount_value >= 3
  AND y_inputcount_value >= 3
  -- not near a bright object
  AND NOT g_pixelflags_bright_object AND NOT g_pixelflags_bright_objectcenter
  AND NOT r_pixelflags_bright_object AND NOT r_pixelflags_bright_objectcenter
  AND NOT i_pixelflags_bright_object AND NOT i_pixelflags_bright_objectcenter
  AND NOT z_pixelflags_bright_object AND NOT z_pixelflags_bright_objectcenter
  AND NOT y_pixelflags_bright_object AND NOT y_pixelflags_bright_objectcenter
  -- in no band: edge, saturated / interpolated / cosmic-ray centre, CModel failure
  AND NOT g_pixelflags_edge AND NOT g_pixelflags_saturatedcenter AND NOT g_pixelflags_interpolatedcenter
  AND NOT g_pixelflags_crcenter AND NOT g_cmodel_flag
  AND NOT r_pixelflags_edge AND NOT r_pixelflags_saturatedcenter AND NOT r_pixelflags_interpolatedcenter
  AND NOT r_pixelflags_crcenter AND NOT r_cmodel_flag
  AND NOT i_pixelflags_edge AND NOT i_pixelflags_saturatedcenter AND NOT i_pixelflags_interpolatedcenter
  AND NOT i_pixelflags_crcenter AND NOT i_cmodel_flag
  AND NOT z_pixelflags_edge AND NOT z_pixelflags_saturatedcenter AND NOT z_pixelflags_interpolatedcenter
  AND NOT z_pixelflags_crcenter AND NOT z_cmodel_flag
  AND NOT y_pixelflags_edge AND NOT y_pixelflags_saturatedcenter AND NOT y_pixelflags_interpolatedcenter
  AND NOT y_pixelflags_crcenter AND NOT y_cmodel_flag
  -- the magnitude slice
  AND i_cmodel_mag >= 20.0 AND i_cmodel_mag < 20.5
