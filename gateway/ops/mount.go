package ops

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// Mount serves s under Prefix on e: `kibubu serve` and `kibubu ops` alike.
func Mount(e *echo.Echo, s *Server) {
	h := echo.WrapHandler(s)
	e.Any(Prefix+"/*", h)
	e.GET(Prefix, func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, Prefix+"/") })
}
