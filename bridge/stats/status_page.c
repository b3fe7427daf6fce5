/* status_page.c — the compiled-in status page (see status_page.h). */
#include "bridge/stats/status_page.h"

/* Defined in the generated status_page_data.c (bridge/stats/CMakeLists.txt). */
extern const char mqb_status_page_html[];
extern const size_t mqb_status_page_html_len;

const char *mqb_status_page(size_t *len)
{
	if (len)
		*len = mqb_status_page_html_len;
	return mqb_status_page_html;
}
